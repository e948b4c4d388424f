namespace HyperpixelFlow.Matching;

/// <summary>
/// Matching result: best target per source hyperpixel (and best source per target) with summary figures;
/// <see cref="BestConfidenceOfSource"/> is the confidence of each source hyperpixel's best match, and
/// <see cref="RefinedTargetOfSource"/> (when sub-hyperpixel refinement ran) the soft-argmax position of that match in
/// target window cells (x, y), fractional.
/// </summary>
public sealed record HoughMatch(long[] BestTargetOfSource, long[] BestSourceOfTarget, HoughSpace Space,
    double SimilaritySum, double SimilarityMax, double ConfidenceSum, double ConfidenceMax, float[] BestConfidenceOfSource,
    (float X, float Y)[]? RefinedTargetOfSource = null)
{
    /// <summary>Whether source hyperpixel i and its best target are each other's best match.</summary>
    public bool IsMutual(int i) => BestSourceOfTarget[BestTargetOfSource[i]] == i;

    /// <summary>Confidence of source hyperpixel i's best match relative to the pair's largest confidence (0..1).</summary>
    public double NormalizedConfidence(int i) => ConfidenceMax > 0 ? BestConfidenceOfSource[i] / ConfidenceMax : 0;
}
