using HyperpixelFlow.Flow;

namespace HyperpixelFlow;

/// <summary>
/// A source point and where it lands in the target image, both in original-image pixels, with how far to trust it.
/// For a transferred point, <see cref="Confidence"/> is the calibrated probability (0..1) that it is right (within
/// 0.1 x the object's size, the PCK@0.1 rule), NaN where the matcher's settings have no calibration;
/// <see cref="Score"/> the mean normalised confidence (0..1, relative to the pair's best match) of the source
/// hyperpixels that moved it, a ranking score; <see cref="Mutual"/> says that the match holds both ways (its round
/// trip source -> target -> source lands within one hyperpixel stride, <see cref="CycleError"/> source pixels away).
/// For a hyperpixel match, <see cref="Confidence"/> is that hyperpixel's normalised confidence and
/// <see cref="Mutual"/> that the two hyperpixels are each other's best match.
/// </summary>
public readonly record struct PointMatch(Point2 Source, Point2 Target, double Confidence = double.NaN, bool Mutual = false,
    double CycleError = double.NaN, double Score = double.NaN)
{
    /// <summary>
    /// The fraction of <paramref name="points"/> expected to be right: the mean of their calibrated confidences (which
    /// targets of a batch need a look); null when there are none or the settings have no calibration.
    /// </summary>
    public static double? ExpectedCorrect(IReadOnlyCollection<PointMatch> points) =>
        points.Count > 0 && points.All(p => double.IsFinite(p.Confidence)) ? points.Average(p => p.Confidence) : null;
}

/// <summary>
/// Figures of one matching run, for diagnostics and parity checks. HyperpixelStride / TargetHyperpixelStride: pixels
/// between neighbouring source / target hyperpixels (the finest selected layer's jump on the paper's grid; larger on
/// the fast paths).
/// </summary>
public sealed record MatchDiagnostics(
    int SourceWidth, int SourceHeight, int TargetWidth, int TargetHeight,
    int ResizedSourceWidth, int ResizedSourceHeight, int ResizedTargetWidth, int ResizedTargetHeight,
    int SourceHyperpixels, int TargetHyperpixels, int HyperpixelChannels, int HyperpixelStride, int TargetHyperpixelStride,
    int HoughBinsX, int HoughBinsY, double HoughCellSize,
    double SimilaritySum, double SimilarityMax, double ConfidenceSum, double ConfidenceMax, string Matching, int Variants);

/// <summary>
/// What <see cref="HyperpixelMatcher.Match(Imaging.RgbImage, Imaging.RgbImage, IReadOnlyList{Point2}?)"/> returns.
/// <see cref="HyperpixelMatches"/> is the flow at hyperpixel resolution: every kept source hyperpixel's box centre and
/// the centre of its best target hyperpixel (original pixels), from the primary variant (first scale, target not
/// mirrored); <see cref="Flow"/> is the per-pixel flow fused over the variants like the points (NaN where the
/// consistency filter rejects a pixel), <see cref="InverseFlow"/> the primary variant's target -> source flow.
/// </summary>
public sealed record MatchResult(
    string Backbone,
    IReadOnlyList<int> Layers,
    IReadOnlyList<PointMatch> Points,
    IReadOnlyList<PointMatch> HyperpixelMatches,
    FlowField Flow,
    FlowField InverseFlow,
    MatchDiagnostics Diagnostics,
    IReadOnlyDictionary<string, double> TimingsSeconds);
