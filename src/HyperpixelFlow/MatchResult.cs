using HyperpixelFlow.Flow;

namespace HyperpixelFlow;

/// <summary>A source point and where it lands in the target image, both in original-image pixels.</summary>
public readonly record struct PointMatch(Point2 Source, Point2 Target);

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
    double SimilaritySum, double SimilarityMax, double ConfidenceSum, double ConfidenceMax);

/// <summary>
/// What <see cref="HyperpixelMatcher.Match(Imaging.RgbImage, Imaging.RgbImage, IReadOnlyList{Point2}?)"/> returns.
/// <see cref="HyperpixelMatches"/> is the flow at hyperpixel resolution: every kept source hyperpixel's box centre and
/// the centre of its best target hyperpixel (original pixels); <see cref="Flow"/> is the per-pixel flow.
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
