using HyperpixelFlow.Calibration;
using HyperpixelFlow.Flow;

namespace HyperpixelFlow.Evaluation;

/// <summary>
/// Fits a confidence calibration to an evaluation's logged keypoints (their signals, and whether each is right at
/// alpha 0.1), and says how well it ranks and how well it is calibrated on points it was not fitted to: k-fold
/// cross-validation with folds of whole source images, so that no image is both fitted and judged. The set model also
/// learns from the logged annotations cut to every smaller size down to <see cref="SetSignals.MinimumPoints"/> points
/// (a fixed random choice per pair and size), so that its probabilities hold for a user's annotation of any size.
/// </summary>
public static class CalibrationFit
{
    /// <summary>The alpha whose PCK rule "right" means.</summary>
    public const double Alpha = 0.1;

    /// <summary>The fitted calibration as JSON (what <c>hpf calibrate</c> writes), and its cross-validated figures.</summary>
    public static (string Json, ConfidenceFigures CrossValidated, int Points) Fit(EvaluationSummary summary, IReadOnlyList<PairResult> results,
        IReadOnlyList<BenchmarkPair> pairs, string key, string description, int folds = 5)
    {
        var (points, cut) = Points(results, pairs);
        if (points.Count < 20) throw new HyperpixelFlowException($"{points.Count} evaluated keypoints: too few to fit a calibration");
        // Folds by source image: the held-out fold's images were never fitted on.
        var images = points.Select(p => p.Image).Distinct().Order(StringComparer.Ordinal).ToList();
        var foldOf = images.Select((image, i) => (image, i % folds)).ToDictionary(x => x.image, x => x.Item2);
        List<(double, bool)> held = [], heldPointModel = [], heldCut = [];
        for (int f = 0; f < folds; f++)
        {
            var test = points.Where(p => foldOf[p.Image] == f).ToList();
            if (test.Count == 0) continue;
            var model = Model(points.Where(p => foldOf[p.Image] != f).ToList(), cut.Where(p => foldOf[p.Image] != f).ToList(), key, description, "",
                new Dictionary<string, double>());
            held.AddRange(test.Select(p => (model.Probability(p.Signals), p.Right)));
            heldPointModel.AddRange(test.Select(p => (model.PointModel.Probability(p.Signals.PointFeatures()), p.Right)));
            heldCut.AddRange(cut.Where(p => foldOf[p.Image] == f).Select(p => (model.Probability(p.Signals), p.Right)));
        }
        var crossValidated = ConfidenceFigures.Of(held, Alpha, isProbability: true)
            ?? throw new HyperpixelFlowException("the evaluated keypoints are all right or all wrong: nothing to calibrate");
        var pointModelOnly = ConfidenceFigures.Of(heldPointModel, Alpha, isProbability: true)!;
        var s = summary.Settings;
        string by = $"{folds}_folds_by_source_image";
        var validation = new Dictionary<string, double>
        {
            [$"cross_validated_auroc_{by}"] = Math.Round(crossValidated.Auroc, 4),
            [$"cross_validated_ece_{by}"] = Math.Round(crossValidated.Ece!.Value, 4),
            [$"point_model_cross_validated_auroc_{by}"] = Math.Round(pointModelOnly.Auroc, 4),
        };
        if (ConfidenceFigures.Of(heldCut, Alpha, isProbability: true) is { } onCut)
        {
            validation[$"cut_annotations_cross_validated_auroc_{by}"] = Math.Round(onCut.Auroc, 4);
            validation[$"cut_annotations_cross_validated_ece_{by}"] = Math.Round(onCut.Ece!.Value, 4);
        }
        var fitted = Model(points, cut, key, description,
            $"{s.Dataset} {s.Split} ({summary.Pairs} pairs, {points.Count} keypoints, {points.Count(p => p.Signals.Set is not null)} in annotations of " +
            $"{SetSignals.MinimumPoints} or more points, {cut.Count} more in those annotations cut to fewer, pair list sha256 {s.PairListHash[..16]})",
            validation);
        return (fitted.ToJson(), crossValidated, points.Count);
    }

    private sealed record LabelledPoint(string Image, PointSignals Signals, bool Right);

    /// <summary>The logged points, and their annotations cut to each smaller size (their set signals made anew).</summary>
    private static (List<LabelledPoint> Logged, List<LabelledPoint> Cut) Points(IReadOnlyList<PairResult> results, IReadOnlyList<BenchmarkPair> pairs)
    {
        List<LabelledPoint> logged = [], cut = [];
        foreach (var r in results.Where(r => r.Points is not null))
        {
            var pair = pairs[r.Index];
            var points = r.Points!.Select(o => new LabelledPoint(pair.SourceImage, o.ToSignals(), o.Error <= Alpha)).ToList();
            logged.AddRange(points);
            if (points[0].Signals.Set is not { } whole || r.Predicted.Length != points.Count || pair.SourcePoints.Count != points.Count) continue;
            // The log keeps the landing points in the target's resized frame; strides per pixel follow from the whole set's extents.
            var source = pair.SourcePoints;
            var target = r.Predicted.Select(p => new Point2(p[0], p[1])).ToList();
            double sourcePerPixel = whole.SourceExtentStrides / Point2.Extent(source), targetPerPixel = whole.TargetExtentStrides / Point2.Extent(target);
            for (int size = SetSignals.MinimumPoints; size < points.Count; size++)
            {
                var random = new Random(r.Index * 1000 + size);
                var chosen = Enumerable.Range(0, points.Count).OrderBy(_ => random.Next()).Take(size).Order().ToList();
                var sets = SetSignals.Of([.. chosen.Select(i => source[i])], [.. chosen.Select(i => target[i])], sourcePerPixel, targetPerPixel);
                for (int j = 0; sets is not null && j < chosen.Count; j++)
                    cut.Add(points[chosen[j]] with { Signals = points[chosen[j]].Signals with { Set = sets[j] } });
            }
        }
        return (logged, cut);
    }

    /// <summary>
    /// The point model fitted to every logged point; the set model to the points that came in an annotation, whole or
    /// cut, where there are enough of them, right and wrong, to fit one.
    /// </summary>
    private static ConfidenceCalibration Model(IReadOnlyList<LabelledPoint> points, IReadOnlyList<LabelledPoint> cut, string key, string description,
        string fittedOn, IReadOnlyDictionary<string, double> validation)
    {
        var pointModel = LogisticModel.Fit(PointSignals.PointFeatureNames, points.Select(p => p.Signals.PointFeatures()).ToList(), points.Select(p => p.Right).ToList());
        var inSets = points.Where(p => p.Signals.Set is not null).Concat(cut).ToList();
        var setModel = inSets.Count >= MinimumSetPoints && inSets.Any(p => p.Right) && inSets.Any(p => !p.Right)
            ? LogisticModel.Fit(PointSignals.SetFeatureNames, inSets.Select(p => p.Signals.SetFeatures()).ToList(), inSets.Select(p => p.Right).ToList())
            : null;
        return new ConfidenceCalibration(ConfidenceCalibration.CurrentFormat, key, description, fittedOn,
            $"right = within {Alpha} x the PCK threshold of the true keypoint", pointModel, setModel,
            setModel is null ? 0 : inSets.Max(p => p.Signals.Set!.Value.Points), validation);
    }

    /// <summary>Fewest points in annotations to fit a set model to (its 20 coefficients need far more).</summary>
    private const int MinimumSetPoints = 200;
}
