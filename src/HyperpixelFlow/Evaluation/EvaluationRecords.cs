namespace HyperpixelFlow.Evaluation;

/// <summary>
/// Everything that determines an evaluation's numbers; a results file is only resumed under equal settings.
/// <see cref="Matching"/> is <see cref="HyperpixelFlowOptions.DescribeMethod"/>: the matching step and the levers beyond the paper.
/// </summary>
public sealed record EvaluationSettings(
    string Dataset, string Split, string Backbone, IReadOnlyList<int> Layers, int MaxSide, bool MarginPruning,
    IReadOnlyList<double> Alphas, string Threshold, int HyperpixelStride = 0, int TargetHyperpixelStride = 0, string Matching = "rhm(similarity exponent 3)")
{
    public bool SameAs(EvaluationSettings other) =>
        Dataset == other.Dataset && Split == other.Split && Backbone == other.Backbone && Layers.SequenceEqual(other.Layers)
        && MaxSide == other.MaxSide && MarginPruning == other.MarginPruning && Alphas.SequenceEqual(other.Alphas) && Threshold == other.Threshold
        && HyperpixelStride == other.HyperpixelStride && TargetHyperpixelStride == other.TargetHyperpixelStride
        && Matching == other.Matching;

    public override string ToString() =>
        $"{Dataset}/{Split}, {Backbone} layers {string.Join(",", Layers)}, max side {MaxSide}, pruning {MarginPruning}, alphas {string.Join(",", Alphas)}, threshold {Threshold}" +
        HyperpixelFlowOptions.DescribeGrids(HyperpixelStride, TargetHyperpixelStride) + $", method {Matching}";
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
    double Seconds)
{
    /// <summary>PCK of this pair at alpha (fraction 0..1); a pair without keypoints has none.</summary>
    public double? Pck(double alpha) => Keypoints == 0 ? null : (double)Correct[AlphaKey(alpha)] / Keypoints;

    public static string AlphaKey(double alpha) => alpha.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
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
    double SecondsPerPair)
{
    public bool Complete => Pairs == TotalPairs;

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
            results.Count == 0 ? 0 : results.Average(r => r.Seconds));
    }
}
