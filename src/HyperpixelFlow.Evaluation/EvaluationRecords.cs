namespace HyperpixelFlow.Evaluation;

/// <summary>
/// Everything that determines an evaluation's numbers: what the data is (the pair list's content hash, which covers
/// every pair's images, their file sizes and annotations), what the backbone is (name, a hash of its weights file,
/// the layers), every result-changing option (<see cref="HyperpixelFlowOptions.ResultSettings"/>), the alphas and the
/// threshold. A results file is only resumed under equal settings; <see cref="DataPath"/> is recorded for people and
/// not compared (moving a dataset does not change its results).
/// </summary>
public sealed record EvaluationSettings(
    string Dataset, string Split, string DataPath, string PairListHash, string Backbone, string Weights, IReadOnlyList<int> Layers,
    IReadOnlyDictionary<string, string> Options, IReadOnlyList<double> Alphas, string Threshold) : RunSettings
{
    /// <inheritdoc />
    protected override IEnumerable<(string Name, string Value)> Fields()
    {
        yield return ("dataset", Dataset);
        yield return ("split", Split);
        yield return ("pair list", PairListHash);
        foreach (var field in MatcherFields(Backbone, Weights, Layers, Options)) yield return field;
        yield return ("alphas", string.Join(",", Alphas ?? []));
        yield return ("threshold", Threshold);
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"{Dataset}/{Split} ({PairListHash[..8]}), {Backbone} layers {string.Join(",", Layers)}, max side {Options.GetValueOrDefault("Image.MaxSide")}, " +
        $"margin pruning {(Options.GetValueOrDefault("Hyperpixels.MarginPruning") == "True" ? "on" : "off")}, alphas {string.Join(",", Alphas)}, threshold {ThresholdNames.Describe(Threshold)}, " +
        $"matching {Options.GetValueOrDefault("Matching.Name")}";
}

/// <summary>SHA-256 helpers for settings records (files: <see cref="FileHashes"/>).</summary>
internal static class Hashing
{
    public static string Of(string text) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));

    public static string Short(string text) => Of(text)[..12];

    /// <summary>
    /// Content hash of a benchmark's pair list: every pair's id, category, image paths (relative to the root) and
    /// file sizes, keypoints, boxes and masks, in order.
    /// </summary>
    public static string OfPairs(BenchmarkDataset dataset)
    {
        var text = new System.Text.StringBuilder();
        var sizes = new Dictionary<string, long>();
        long Size(string path) => sizes.TryGetValue(path, out long n) ? n : sizes[path] = File.Exists(path) ? new FileInfo(path).Length : -1;
        string Points(IEnumerable<Flow.Point2> points) => string.Join(";", points.Select(p => FormattableString.Invariant($"{p.X:R},{p.Y:R}")));
        foreach (var pair in dataset.Pairs)
        {
            text.Append(pair.Id).Append('|').Append(pair.Category).Append('|')
                .Append(Path.GetRelativePath(dataset.Root, pair.SourceImage)).Append(':').Append(Size(pair.SourceImage)).Append('|')
                .Append(Path.GetRelativePath(dataset.Root, pair.TargetImage)).Append(':').Append(Size(pair.TargetImage)).Append('|')
                .Append(Points(pair.SourcePoints)).Append('|').Append(Points(pair.TargetPoints)).Append('|')
                .Append(pair.SourceBox).Append('|').Append(pair.TargetBox).Append('|')
                .Append(pair.SourceMask is null ? "" : Points(pair.SourceMask.Vertices)).Append('|')
                .Append(pair.TargetMask is null ? "" : Points(pair.TargetMask.Vertices)).Append('\n');
        }
        return Of(text.ToString());
    }
}

/// <summary>People's names of the PCK thresholds.</summary>
internal static class ThresholdNames
{
    public static string Describe(string threshold) => threshold switch
    {
        nameof(PckThreshold.Image) => "image size",
        nameof(PckThreshold.BoundingBox) => "bounding box",
        nameof(PckThreshold.KeypointExtent) => "keypoint extent",
        _ => threshold,
    };
}

/// <summary>One evaluated pair. Predicted keypoints are in resized-target pixels, like the threshold.</summary>
public sealed record PairResult(
    int Index,
    string Id,
    string Category,
    int Keypoints,
    double ThresholdPixels,
    IReadOnlyDictionary<string, int> Correct,
    IReadOnlyDictionary<string, int>? Labels,
    double? LabelTransferAccuracy,
    double? IntersectionOverUnion,
    double[][] Predicted,
    double Seconds,
    IReadOnlyList<PointOutcome>? Points = null) : ILoggedItem
{
    /// <summary>PCK of this pair at alpha (fraction 0..1); a pair without keypoints has none.</summary>
    public double? Pck(double alpha) => Keypoints == 0 ? null : (double)Correct[AlphaKey(alpha)] / Keypoints;

    /// <summary>The key of an alpha in <see cref="Correct"/> and the summaries ("0.1").</summary>
    public static string AlphaKey(double alpha) => alpha.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// One evaluated keypoint: its error over the pair's PCK threshold (it is right at alpha when <see cref="Error"/> &lt;=
/// alpha), its calibrated confidence (null where the settings have no calibration), its score, and the raw signals
/// the calibration reads (what <c>hpf calibrate</c> fits on).
/// </summary>
public sealed record PointOutcome(double Error, double? Confidence, double Score, double[] Signals)
{
    internal static PointOutcome Of(Flow.PointPrediction prediction, Flow.Point2 predicted, Flow.Point2 truth, double thresholdPixels)
    {
        double error = predicted.DistanceTo(truth) / thresholdPixels;
        return new PointOutcome(Math.Round(error, 6), JsonNumbers.Rounded(prediction.Confidence, 6), Math.Round(prediction.Score, 6),
            [.. prediction.Signals.Values().Select(v => Math.Round(v, 6))]);
    }

    /// <summary>The signals as the calibration takes them.</summary>
    internal Calibration.PointSignals ToSignals() => Calibration.PointSignals.FromValues(Signals)
        ?? throw new HyperpixelFlowException("the results log holds the signals of another version; evaluate again (--restart)");
}

/// <summary>
/// How well a per-point confidence tells right points from wrong ones (right = within alpha x the PCK threshold):
/// AUROC, expected calibration error over 10 equal-width bins (only for a probability), and the percentage right among
/// the most confident 25, 50 and 75 % of the points.
/// </summary>
public sealed record ConfidenceFigures(double Alpha, int Points, double Auroc, double? Ece, double Top25, double Top50, double Top75)
{
    /// <summary>The figures of (confidence, right) points; null without both right and wrong points.</summary>
    public static ConfidenceFigures? Of(IReadOnlyList<(double Confidence, bool Right)> points, double alpha, bool isProbability)
    {
        if (points.Count == 0 || points.All(p => p.Right) || points.All(p => !p.Right)) return null;
        return new ConfidenceFigures(alpha, points.Count, Metrics.Auroc(points), isProbability ? Metrics.ExpectedCalibrationError(points, 10) : null,
            100 * Metrics.AccuracyOfMostConfident(points, 0.25), 100 * Metrics.AccuracyOfMostConfident(points, 0.5),
            100 * Metrics.AccuracyOfMostConfident(points, 0.75));
    }
}

/// <summary>Means over pairs (PCK in percent), overall, per category and, where pairs carry labels, per label level.</summary>
public sealed record EvaluationSummary(
    EvaluationSettings Settings,
    int Pairs,
    int TotalPairs,
    IReadOnlyDictionary<string, double> Pck,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> PckPerCategory,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> PckPerLabelLevel,
    double? LabelTransferAccuracy,
    double? IntersectionOverUnion,
    double SecondsPerPair,
    ConfidenceFigures? Confidence = null,
    ConfidenceFigures? Score = null)
{
    /// <summary>The alpha confidence is judged at: 0.1 when evaluated, else the first.</summary>
    public static double ConfidenceAlpha(IReadOnlyList<double> alphas) => alphas.Contains(0.1) ? 0.1 : alphas[0];

    /// <summary>Whether every pair of the split was evaluated.</summary>
    public bool Complete => Pairs == TotalPairs;

    /// <summary>The summary of logged pair results, out of <paramref name="totalPairs"/>.</summary>
    public static EvaluationSummary From(EvaluationSettings settings, IReadOnlyList<PairResult> results, int totalPairs)
    {
        IReadOnlyDictionary<string, double> MeanPck(IEnumerable<PairResult> rs)
        {
            var list = rs.ToList();
            return settings.Alphas.ToDictionary(PairResult.AlphaKey, a =>
            {
                var values = list.Select(r => r.Pck(a)).Where(v => v.HasValue).Select(v => v!.Value).ToList();
                return values.Count == 0 ? double.NaN : 100 * values.Average();
            });
        }
        var perCategory = results.GroupBy(r => r.Category).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => MeanPck(g));
        var perLevel = results.Where(r => r.Labels is not null)
            .SelectMany(r => r.Labels!.Select(l => (Key: $"{l.Key}={l.Value}", Result: r)))
            .GroupBy(x => x.Key).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => MeanPck(g.Select(x => x.Result)));
        var masks = results.Where(r => r.LabelTransferAccuracy.HasValue).ToList();
        return new EvaluationSummary(settings, results.Count, totalPairs, MeanPck(results),
            perCategory, perLevel,
            masks.Count == 0 ? null : 100 * masks.Average(r => r.LabelTransferAccuracy!.Value),
            masks.Count == 0 ? null : 100 * masks.Average(r => r.IntersectionOverUnion!.Value),
            results.Count == 0 ? 0 : results.Average(r => r.Seconds),
            ConfidenceFigures.Of(Outcomes(results, settings.Alphas, o => o.Confidence), ConfidenceAlpha(settings.Alphas), isProbability: true),
            ConfidenceFigures.Of(Outcomes(results, settings.Alphas, o => o.Score), ConfidenceAlpha(settings.Alphas), isProbability: false));
    }

    /// <summary>(confidence, right at the confidence alpha) of every logged keypoint that has a value.</summary>
    internal static List<(double Confidence, bool Right)> Outcomes(IEnumerable<PairResult> results, IReadOnlyList<double> alphas,
        Func<PointOutcome, double?> value)
    {
        double alpha = ConfidenceAlpha(alphas);
        return results.SelectMany(r => r.Points ?? []).Where(o => value(o).HasValue && double.IsFinite(value(o)!.Value))
            .Select(o => (value(o)!.Value, o.Error <= alpha)).ToList();
    }
}
