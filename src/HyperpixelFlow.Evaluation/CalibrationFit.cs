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
        var heldPointModel = new List<(double, bool)>();
        for (int f = 0; f < folds; f++)
        {
            var train = points.Where(p => foldOf[p.Image] != f).ToList();
            var test = points.Where(p => foldOf[p.Image] == f).ToList();
            if (test.Count == 0) continue;
            var model = Model(train, key, description, "", new Dictionary<string, double>());
            held.AddRange(test.Select(p => (model.Probability(p.Signals), p.Right)));
            heldPointModel.AddRange(test.Select(p => (model.PointModel.Probability(p.Signals.PointFeatures()), p.Right)));
        }
        var crossValidated = ConfidenceFigures.Of(held, Alpha, isProbability: true)
            ?? throw new HyperpixelFlowException("the evaluated keypoints are all right or all wrong: nothing to calibrate");
        var pointModelOnly = ConfidenceFigures.Of(heldPointModel, Alpha, isProbability: true)!;
        var s = summary.Settings;
        string by = $"{folds}_folds_by_source_image";
        var fitted = Model(points, key, description,
            $"{s.Dataset} {s.Split} ({summary.Pairs} pairs, {points.Count} keypoints, {points.Count(p => p.Signals.Set is not null)} in sets of " +
            $"{SetSignals.MinimumPoints} or more, pair list sha256 {s.PairListHash[..16]})",
            new Dictionary<string, double>
            {
                [$"cross_validated_auroc_{by}"] = Math.Round(crossValidated.Auroc, 4),
                [$"cross_validated_ece_{by}"] = Math.Round(crossValidated.Ece!.Value, 4),
                [$"point_model_cross_validated_auroc_{by}"] = Math.Round(pointModelOnly.Auroc, 4),
            });
        return (fitted.ToJson(), crossValidated, points.Count);
    }

    private sealed record LabelledPoint(string Image, PointSignals Signals, bool Right);

    private static List<LabelledPoint> Points(IReadOnlyList<PairResult> results, IReadOnlyList<BenchmarkPair> pairs) =>
        results.Where(r => r.Points is not null)
            .SelectMany(r => r.Points!.Select(o => new LabelledPoint(pairs[r.Index].SourceImage, o.ToSignals(), o.Error <= Alpha)))
            .ToList();

    /// <summary>
    /// The point model fitted to every point; the set model to the points that came in a set, where there are enough
    /// of them, right and wrong, to fit one.
    /// </summary>
    private static ConfidenceCalibration Model(IReadOnlyList<LabelledPoint> points, string key, string description, string fittedOn,
        IReadOnlyDictionary<string, double> validation)
    {
        var pointModel = LogisticModel.Fit(PointSignals.PointFeatureNames, points.Select(p => p.Signals.PointFeatures()).ToList(), points.Select(p => p.Right).ToList());
        var inSets = points.Where(p => p.Signals.Set is not null).ToList();
        var setModel = inSets.Count >= MinimumSetPoints && inSets.Any(p => p.Right) && inSets.Any(p => !p.Right)
            ? LogisticModel.Fit(PointSignals.SetFeatureNames, inSets.Select(p => p.Signals.SetFeatures()).ToList(), inSets.Select(p => p.Right).ToList())
            : null;
        return new ConfidenceCalibration(ConfidenceCalibration.CurrentFormat, key, description, fittedOn,
            $"right = within {Alpha} x the PCK threshold of the true keypoint", pointModel, setModel, validation);
    }

    /// <summary>Fewest points in sets to fit a set model to (its 16 coefficients need far more).</summary>
    private const int MinimumSetPoints = 200;
}
