using HyperpixelFlow.Calibration;

namespace HyperpixelFlow.Evaluation;

/// <summary>
/// Fits a confidence calibration to an evaluation's logged keypoints (their signals, and whether each is right at
/// alpha 0.1), and says how well it ranks and how well it is calibrated on points it was not fitted to: k-fold
/// cross-validation with folds of whole source images, so that no image is both fitted and judged.
/// </summary>
public static class CalibrationFit
{
    /// <summary>The alpha whose PCK rule "right" means.</summary>
    public const double Alpha = 0.1;

    /// <summary>The fitted calibration as JSON (what <c>hpf calibrate</c> writes), and its cross-validated figures.</summary>
    public static (string Json, ConfidenceFigures CrossValidated, int Points) Fit(EvaluationSummary summary, IReadOnlyList<PairResult> results,
        IReadOnlyList<BenchmarkPair> pairs, string key, string description, int folds = 5)
    {
        var points = Points(results, pairs);
        if (points.Count < 20) throw new HyperpixelFlowException($"{points.Count} evaluated keypoints: too few to fit a calibration");
        // Folds by source image: the held-out fold's images were never fitted on.
        var images = points.Select(p => p.Image).Distinct().Order(StringComparer.Ordinal).ToList();
        var foldOf = images.Select((image, i) => (image, i % folds)).ToDictionary(x => x.image, x => x.Item2);
        var held = new List<(double, bool)>();
        for (int f = 0; f < folds; f++)
        {
            var train = points.Where(p => foldOf[p.Image] != f).ToList();
            var test = points.Where(p => foldOf[p.Image] == f).ToList();
            if (test.Count == 0) continue;
            var model = Model(train, key, description, "", new Dictionary<string, double>());
            held.AddRange(test.Select(p => (model.Probability(p.Signals), p.Right)));
        }
        var crossValidated = ConfidenceFigures.Of(held, Alpha, isProbability: true)
            ?? throw new HyperpixelFlowException("the evaluated keypoints are all right or all wrong: nothing to calibrate");
        var s = summary.Settings;
        var fitted = Model(points, key, description,
            $"{s.Dataset} {s.Split} ({summary.Pairs} pairs, {points.Count} keypoints, pair list sha256 {s.PairListHash[..16]})",
            new Dictionary<string, double>
            {
                [$"cross_validated_auroc_{folds}_folds_by_source_image"] = Math.Round(crossValidated.Auroc, 4),
                [$"cross_validated_ece_{folds}_folds_by_source_image"] = Math.Round(crossValidated.Ece!.Value, 4),
            });
        return (fitted.ToJson(), crossValidated, points.Count);
    }

    private sealed record LabelledPoint(string Image, PointSignals Signals, bool Right);

    private static List<LabelledPoint> Points(IReadOnlyList<PairResult> results, IReadOnlyList<BenchmarkPair> pairs) =>
        results.Where(r => r.Points is not null)
            .SelectMany(r => r.Points!.Select(o => new LabelledPoint(pairs[r.Index].SourceImage, o.ToSignals(), o.Error <= Alpha)))
            .ToList();

    private static ConfidenceCalibration Model(IReadOnlyList<LabelledPoint> points, string key, string description, string fittedOn,
        IReadOnlyDictionary<string, double> validation)
    {
        var (mean, scale, weights, bias) = ConfidenceCalibration.Fit(points.Select(p => p.Signals).ToList(), points.Select(p => p.Right).ToList());
        return new ConfidenceCalibration(ConfidenceCalibration.CurrentFormat, key, description, fittedOn,
            $"right = within {Alpha} x the PCK threshold of the true keypoint", PointSignals.FeatureNames, mean, scale, weights, bias, validation);
    }
}
