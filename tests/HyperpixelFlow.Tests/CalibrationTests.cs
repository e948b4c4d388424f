using HyperpixelFlow.Calibration;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Imaging;

namespace HyperpixelFlow.Tests;

/// <summary>The calibrated confidence: its metrics, its fit, and that a calibration serves only the setting it was fitted for.</summary>
public class CalibrationTests
{
    [Fact]
    public void Auroc_ece_and_top_fraction_accuracy_follow_their_definitions()
    {
        (double, bool)[] separated = [(0.9, true), (0.8, true), (0.3, false), (0.1, false)];
        Assert.Equal(1.0, Metrics.Auroc(separated));
        Assert.Equal(0.0, Metrics.Auroc(separated.Select(p => (1 - p.Item1, p.Item2)).ToList()));
        Assert.Equal(0.5, Metrics.Auroc([(0.5, true), (0.5, false)]));
        // One right point ranked below one of two wrong ones: 3 of 4 (right, wrong) pairs are ordered.
        Assert.Equal(0.75, Metrics.Auroc([(0.9, true), (0.4, true), (0.6, false), (0.2, false)]), 12);
        // Bins [0.9, 1]: confidence 0.95, right 1/2 -> 0.45; [0.1, 0.2): 0.15, right 0/2 -> 0.15; weighted equally.
        Assert.Equal(0.30, Metrics.ExpectedCalibrationError([(0.95, true), (0.95, false), (0.15, false), (0.15, false)], 10), 12);
        Assert.Equal(1.0, Metrics.AccuracyOfMostConfident(separated, 0.5));
        Assert.Equal(0.5, Metrics.AccuracyOfMostConfident(separated, 1.0));
        var curve = Metrics.RiskCoverage(separated);
        Assert.Equal([0.0, 0.0, 1 / 3.0, 0.5], curve.Select(p => p.Risk));
    }

    [Fact]
    public void The_fit_recovers_a_known_logistic_model()
    {
        // Points right with probability sigmoid(6 * (score - 0.5) - 2 * log1p(cycle)): the fitted model must rank them
        // as the truth does and give probabilities close to the true ones.
        var random = new Random(5);
        var signals = new List<PointSignals>();
        var truth = new List<double>();
        for (int i = 0; i < 4000; i++)
        {
            double score = random.NextDouble(), cycle = 3 * random.NextDouble();
            signals.Add(new PointSignals(score, cycle, cycle <= 1, random.NextDouble(), random.NextDouble(), random.NextDouble(), random.NextDouble(), random.NextDouble(),
                random.NextDouble(), random.NextDouble(), random.NextDouble()));
            truth.Add(1 / (1 + Math.Exp(-(6 * (score - 0.5) - 2 * Math.Log(1 + cycle)))));
        }
        var right = truth.Select(p => random.NextDouble() < p).ToList();
        var model = new ConfidenceCalibration(ConfidenceCalibration.CurrentFormat, "test", "", "", "",
            LogisticModel.Fit(PointSignals.PointFeatureNames, signals.Select(s => s.PointFeatures()).ToList(), right), null, 0, new Dictionary<string, double>());
        var predicted = signals.Select(model.Probability).ToList();
        Assert.True(predicted.Zip(truth).Average(p => Math.Abs(p.First - p.Second)) < 0.05);
        var points = predicted.Zip(right, (p, r) => (p, r)).ToList();
        Assert.True(Metrics.ExpectedCalibrationError(points, 10) < 0.04);
        Assert.True(Metrics.Auroc(points) > 0.8);
    }

    [Fact]
    public void A_calibration_serves_only_the_setting_it_was_fitted_for()
    {
        using var matcher = new HyperpixelMatcher();
        Assert.True(matcher.HasCalibratedConfidence, "the default preset ships a calibration");
        var pair = SyntheticPairs.Create();
        var calibrated = matcher.Match(pair.Source, pair.Target, pair.SourcePoints);
        Assert.All(calibrated.Points, p => Assert.InRange(p.Confidence, 0, 1));
        Assert.All(calibrated.Points, p => Assert.InRange(p.Score, 0, 1));
        // The same network with one result-changing option changed (another working side; other layers) has none.
        foreach (var other in new[]
                 {
                     matcher.Options with { Image = matcher.Options.Image with { MaxSide = 320 } },
                     matcher.Options.WithLayers([1, 2, 4]),
                 })
        {
            using var changed = new HyperpixelMatcher(matcher.Backbone, other);
            Assert.False(changed.HasCalibratedConfidence);
            var result = changed.Match(pair.Source, pair.Target, pair.SourcePoints);
            Assert.All(result.Points, p => Assert.True(double.IsNaN(p.Confidence)));
            Assert.All(result.Points, p => Assert.InRange(p.Score, 0, 1));
        }
        // Every shipped calibration names the setting it belongs to, and each preset with one finds exactly its own.
        Assert.NotEmpty(ConfidenceCalibration.All);
        Assert.Equal(ConfidenceCalibration.All.Count, ConfidenceCalibration.All.Select(c => c.Key).Distinct().Count());
        foreach (var preset in Presets.All)
        {
            var key = ConfidenceCalibration.KeyOf(matcher.Backbone.Name, matcher.Backbone.LayersFor(preset.Options), preset.Options);
            var found = ConfidenceCalibration.For(key);
            if (found is not null) Assert.StartsWith(preset.Name + ":", found.Description);
        }
    }

    [Fact]
    public void The_robust_affine_map_ignores_a_minority_of_wrong_correspondences()
    {
        // Ten correspondences of a known affine map, two of them moved far off: the fit must recover the map.
        Point2 Truth(Point2 p) => new(0.9 * p.X - 0.2 * p.Y + 14, 0.1 * p.X + 1.1 * p.Y - 6);
        var random = new Random(3);
        var correspondences = Enumerable.Range(0, 10).Select(i =>
        {
            var from = new Point2(300 * random.NextDouble(), 200 * random.NextDouble());
            var to = Truth(from);
            return (from, i == 2 ? new Point2(to.X + 80, to.Y - 60) : i == 7 ? new Point2(to.X - 50, to.Y + 70) : to);
        }).ToList();
        var map = AffineMap.FitRobust(correspondences);
        foreach (var probe in new[] { new Point2(0, 0), new Point2(250, 40), new Point2(120, 190) })
            Assert.True(map.Apply(probe).DistanceTo(Truth(probe)) < 1e-3, $"{probe} -> {map.Apply(probe)}, truth {Truth(probe)}");
    }

    [Fact]
    public void An_annotation_s_points_read_what_the_set_says_and_a_point_alone_or_in_a_small_set_does_not()
    {
        using var matcher = new HyperpixelMatcher();
        var pair = SyntheticPairs.Create();
        using var source = matcher.Describe(pair.Source);
        using var target = matcher.Describe(pair.Target);
        var prediction = matcher.Predict(source, target);
        var calibration = ConfidenceCalibration.For(matcher.CalibrationKey)!;
        Assert.NotNull(calibration.SetModel);
        var together = prediction.TransferAll(pair.SourcePoints);
        Assert.Equal(pair.SourcePoints.Count, together.Count);
        for (int i = 0; i < together.Count; i++)
        {
            var alone = prediction.Transfer(pair.SourcePoints[i]);
            Assert.Equal(alone.Target, together[i].Target);   // the set changes how far to trust a point, never where it lands
            var set = Assert.NotNull(together[i].Signals.Set);
            Assert.Equal(pair.SourcePoints.Count, set.Points);
            // The creature spans most of the 400 px source at stride 4: tens of strides.
            Assert.InRange(set.SourceExtentStrides, 40, 100);
            // Twelve points, more than the 10 of the annotations fitted on: read as the largest size fitted, not extrapolated.
            Assert.Equal(10, calibration.LargestSetPoints);
            var asFitted = together[i].Signals with { Set = set with { Points = 10 } };
            Assert.Equal(calibration.SetModel!.Probability(asFitted.SetFeatures()), together[i].Confidence, 12);
            Assert.Equal(calibration.PointModel.Probability(alone.Signals.PointFeatures()), alone.Confidence, 12);
        }
        Assert.NotEqual(together.Select(p => p.Confidence), pair.SourcePoints.Select(p => prediction.Transfer(p).Confidence));
        // Four points are too few for the set: each gets the point model's confidence, as if alone.
        var few = prediction.TransferAll(pair.SourcePoints.Take(SetSignals.MinimumPoints - 1).ToList());
        Assert.All(few, p => Assert.Null(p.Signals.Set));
        Assert.Equal(pair.SourcePoints.Take(few.Count).Select(p => prediction.Transfer(p).Confidence), few.Select(p => p.Confidence));
        // So are the points of a grid larger than an annotation, and five points on one spot (no object size to read).
        var grid = Enumerable.Range(0, SetSignals.MaximumPoints + 1).Select(i => new Point2(20 + 40 * (i % 9), 20 + 30 * (i / 9))).ToList();
        Assert.All(prediction.TransferAll(grid), p => Assert.Null(p.Signals.Set));
        var spot = prediction.TransferAll(Enumerable.Repeat(pair.SourcePoints[0], SetSignals.MinimumPoints).ToList());
        Assert.All(spot, p => Assert.Null(p.Signals.Set));
    }

    [Fact]
    public void Hpf_transfer_gives_an_annotation_the_confidences_the_library_gives_it()
    {
        string dir = TestFolders.Create("transfer-set");
        try
        {
            var (source, target) = TestImages.WritePair(dir, "exemplar.png", "target.png");
            Point2[] points = [new(292, 92), new(318, 92), new(305, 118), new(120, 225), new(265, 225), new(70, 140)];
            string lines = Path.Combine(dir, "lines.jsonl");
            var run = CliTests.Hpf("transfer", "--exemplar", source, "--points", string.Join(";", points.Select(p => FormattableString.Invariant($"{p.X},{p.Y}"))),
                "--targets", target, "--out", lines);
            Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
            var line = System.Text.Json.JsonDocument.Parse(File.ReadAllLines(lines).Skip(1).Single()).RootElement;
            var transferred = line.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("confidence").GetDouble()).ToList();
            using var matcher = new HyperpixelMatcher();
            var library = matcher.Match(ImageLoader.Load(source), ImageLoader.Load(target), points).Points;
            Assert.Equal(library.Select(p => Math.Round(p.Confidence, 4)), transferred);
            // What the set adds: the same points one by one get other confidences.
            using var s = matcher.Describe(source);
            using var t = matcher.Describe(target);
            var alone = matcher.Predict(s, t);
            Assert.NotEqual(points.Select(p => Math.Round(alone.MatchOf(p).Confidence, 4)), transferred);
        }
        finally { TestFolders.Delete(dir); }
    }

    [Fact]
    public void A_calibration_file_for_other_signals_or_damaged_is_refused_by_name()
    {
        var shipped = ConfidenceCalibration.All[0];
        string dir = TestFolders.Create("calibration");
        try
        {
            string path = Path.Combine(dir, "other.json");
            (shipped with { SetModel = shipped.SetModel! with { Features = [.. shipped.SetModel.Features.Skip(1)] } }).Write(path);
            using (var stream = File.OpenRead(path))
                Assert.Contains("other signals", Assert.Throws<HyperpixelFlowException>(() => ConfidenceCalibration.Read(stream, "other.json")).Message);
            File.WriteAllText(path, "{ not json");
            using (var stream = File.OpenRead(path))
                Assert.Contains("not a calibration file", Assert.Throws<HyperpixelFlowException>(() => ConfidenceCalibration.Read(stream, "other.json")).Message);
        }
        finally { TestFolders.Delete(dir); }
    }

    [Trait("Category", TestCategory.Data)]
    [SkippableFact]
    public void The_fit_learns_the_set_model_from_whole_annotations_and_the_same_cut_to_every_smaller_size()
    {
        var full = PfWillowDataset.Load(SharedData.PfWillow, "val");
        var data = full with { Pairs = full.Pairs.Where((_, i) => i % 5 == 0).ToList() };
        using var matcher = new HyperpixelMatcher();
        string dir = TestFolders.Create("calibration-fit");
        try
        {
            string results = Path.Combine(dir, "r.jsonl");
            var summary = new Evaluator(matcher).Run(data, [CalibrationFit.Alpha], PckThreshold.Auto, results);
            var logged = ResultsLog<EvaluationSettings, PairResult>.ReadAll(results).Items.OrderBy(r => r.Index).ToList();
            var (json, crossValidated, points) = CalibrationFit.Fit(summary, logged, data.Pairs, matcher.CalibrationKey, "test");
            using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json));
            var fitted = ConfidenceCalibration.Read(stream, "fitted");
            Assert.Equal(data.Pairs.Count * 10, points);
            Assert.NotNull(fitted.SetModel);
            Assert.Equal(PointSignals.SetFeatureNames, fitted.SetModel.Features);
            // Each 10-point annotation cut once to each of 5..9 points: 35 more points per pair.
            Assert.Contains($"{points} in annotations of 5 or more points, {data.Pairs.Count * 35} more in those annotations cut to fewer", fitted.FittedOn);
            Assert.InRange(fitted.Validation["cut_annotations_cross_validated_auroc_5_folds_by_source_image"], 0.75, 1);
            Assert.InRange(fitted.Validation["cut_annotations_cross_validated_ece_5_folds_by_source_image"], 0, 0.08);
            Assert.InRange(crossValidated.Auroc, 0.75, 1);
        }
        finally { TestFolders.Delete(dir); }
    }

    [Trait("Category", TestCategory.Data)]
    [SkippableFact]
    public void On_held_out_pairs_the_calibrated_confidence_ranks_right_points_first_and_a_shuffled_one_does_not()
    {
        // A fixed small set of PF-WILLOW test pairs (images the calibration never saw).
        var data = SharedData.PfWillowPairs("test", 30);
        using var matcher = new HyperpixelMatcher();
        var points = new List<(double Confidence, bool Right)>();
        var alone = new List<(double Confidence, bool Right)>();
        foreach (var pair in data.Pairs)
        {
            using var source = matcher.Describe(pair.SourceImage);
            using var target = matcher.Describe(pair.TargetImage);
            var prediction = matcher.Predict(source, target);
            double threshold = Metrics.PckThresholdPixels(pair, data.DefaultThreshold, target.OriginalWidth, target.OriginalHeight, 1f);
            var transferred = prediction.TransferAll(pair.SourcePoints);
            for (int i = 0; i < pair.SourcePoints.Count; i++)
            {
                var p = transferred[i];
                double error = Math.Sqrt(Math.Pow(p.Target.X - pair.TargetPoints[i].X, 2) + Math.Pow(p.Target.Y - pair.TargetPoints[i].Y, 2));
                points.Add((p.Confidence, error <= 0.1 * threshold));
                alone.Add((prediction.Transfer(pair.SourcePoints[i]).Confidence, error <= 0.1 * threshold));
            }
        }
        Assert.True(Metrics.Auroc(points) >= 0.78, $"AUROC {Metrics.Auroc(points):0.000} on {points.Count} held-out points");
        // What the annotation's other points say must add to what the point alone says.
        Assert.True(Metrics.Auroc(points) > Metrics.Auroc(alone) + 0.01, $"AUROC with the set {Metrics.Auroc(points):0.000}, alone {Metrics.Auroc(alone):0.000}");
        var random = new Random(1);
        var shuffled = points.Select(p => p.Confidence).OrderBy(_ => random.Next()).Zip(points, (c, p) => (c, p.Right)).ToList();
        Assert.True(Metrics.Auroc(shuffled) < 0.65, "a shuffled confidence must fail the same check");
    }
}

/// <summary>What evaluation and batch transfer report of the confidence.</summary>
public class ConfidenceReportTests
{
    private static PairResult Pair(int index, params (double Error, double? Confidence, double Score)[] points) =>
        new(index, $"p{index}", "cat", points.Length, 10,
            new Dictionary<string, int> { ["0.05"] = points.Count(p => p.Error <= 0.05), ["0.1"] = points.Count(p => p.Error <= 0.1) }, null, null, null,
            [.. points.Select(_ => new[] { 0.0, 0.0 })], 0.1, [.. points.Select(p => new PointOutcome(p.Error, p.Confidence, p.Score, new double[15]))]);

    [Fact]
    public void The_summary_judges_confidence_and_score_by_the_points_right_at_alpha_0_1()
    {
        var settings = new EvaluationSettings("pfwillow", "val", "/data", "hash", "resnet18-cntk", "bundled", [1, 2], new Dictionary<string, string>(), [0.05, 0.1], "BoundingBox");
        // Right points (error <= 0.1) have the higher confidence; the score ranks them the other way round.
        var results = new[] { Pair(0, (0.05, 0.9, 0.1), (0.5, 0.2, 0.9)), Pair(1, (0.1, 0.8, 0.2), (0.3, 0.1, 0.8)) };
        var summary = EvaluationSummary.From(settings, results, 2);
        Assert.Equal(1.0, summary.Confidence!.Auroc);
        Assert.Equal(0.0, summary.Score!.Auroc);
        Assert.Equal(100, summary.Confidence.Top50);
        Assert.Equal(0.1, summary.Confidence.Alpha);
        Assert.NotNull(summary.Confidence.Ece);
        Assert.Null(summary.Score.Ece);   // a score is no probability: no calibration error
        // Without calibrated confidences (settings without a calibration) there are no confidence figures.
        var uncalibrated = EvaluationSummary.From(settings, [Pair(0, (0.05, null, 0.1), (0.5, null, 0.9))], 1);
        Assert.Null(uncalibrated.Confidence);
        Assert.NotNull(uncalibrated.Score);
    }

    [Fact]
    public void The_review_lists_targets_with_a_doubtful_point_worst_first_and_keeps_every_point()
    {
        TransferredPoint Point(string name, double? confidence) => new(name, [0, 0], [1, 1], confidence, 0.5, true, 0);
        TransferLine Line(int index, double? expected, params TransferredPoint[] points) =>
            new(index, "exemplar.png", $"t{index}.png", 10, 10, points, null, null, 0.1, expected);
        var lines = new[]
        {
            Line(0, 0.9, Point("eye", 0.95), Point("nose", 0.85)),
            Line(1, 0.6, Point("eye", 0.9), Point("nose", 0.3)),
            Line(2, 0.35, Point("eye", 0.4), Point("nose", 0.3)),
            new TransferLine(3, "exemplar.png", "broken.png", null, null, null, "broken.png: not an image", null, 0.1),
        };
        var review = BatchTransfer.Review(lines, 0.5);
        Assert.Equal([2, 1], review.Select(r => r.Index));
        Assert.Equal(["eye", "nose"], review[0].PointsBelow);
        Assert.Equal(["nose"], review[1].PointsBelow);
        Assert.Empty(BatchTransfer.Review(lines, 0.2));
        Assert.Equal(3, BatchTransfer.Review(lines, 0.99).Count);
    }
}
