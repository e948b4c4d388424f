using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow.Evaluation;

/// <summary>How the PCK distance threshold is derived (always measured in resized-target pixels).</summary>
public enum PckThreshold
{
    /// <summary>The benchmark's convention: PF-PASCAL img, SPair bbox, PF-WILLOW keypoint extent.</summary>
    Auto,
    /// <summary>Longer side of the target image.</summary>
    Image,
    /// <summary>Longer side of the target object's bounding box.</summary>
    BoundingBox,
    /// <summary>Larger of the x and y extents of the target keypoints (PF-WILLOW).</summary>
    KeypointExtent,
}

/// <summary>A polygon (object mask outline) in image pixels.</summary>
public sealed record Polygon(IReadOnlyList<Point2> Vertices);

/// <summary>
/// One annotated image pair of a benchmark, in ORIGINAL-image pixels. Keypoints are index-aligned (only those
/// visible in both images are kept); Caltech-101 pairs carry mask polygons instead.
/// </summary>
public sealed record BenchmarkPair(
    string Id,
    string Category,
    string SourceImage,
    string TargetImage,
    IReadOnlyList<Point2> SourcePoints,
    IReadOnlyList<Point2> TargetPoints,
    Box? SourceBox = null,
    Box? TargetBox = null,
    IReadOnlyDictionary<string, int>? Labels = null,
    Polygon? SourceMask = null,
    Polygon? TargetMask = null);

/// <summary>A loaded benchmark split.</summary>
public sealed record BenchmarkDataset(string Name, string Split, string Root, PckThreshold DefaultThreshold, IReadOnlyList<BenchmarkPair> Pairs)
{
    /// <summary>
    /// The pairs none of whose images appear in <paramref name="other"/>'s pairs: what a model fitted on that split
    /// never saw (PF-WILLOW's test list holds its val pairs and pairs sharing an image with them). The split is named
    /// <c>SPLIT-without-OTHER-images</c>, so that its results never mix with the whole split's.
    /// </summary>
    public BenchmarkDataset WithoutImagesOf(BenchmarkDataset other)
    {
        if (other.Name != Name || !string.Equals(Path.GetFullPath(other.Root), Path.GetFullPath(Root), StringComparison.Ordinal))
            throw new HyperpixelFlowException($"images of {other.Name} {other.Split} cannot be left out of {Name} {Split}: another dataset");
        var seen = other.Pairs.SelectMany(p => new[] { p.SourceImage, p.TargetImage }).Select(Path.GetFullPath).ToHashSet(StringComparer.Ordinal);
        var unseen = Pairs.Where(p => !seen.Contains(Path.GetFullPath(p.SourceImage)) && !seen.Contains(Path.GetFullPath(p.TargetImage))).ToList();
        if (unseen.Count == 0)
            throw new HyperpixelFlowException($"every pair of {Name} {Split} has an image of {other.Split}'s pairs: no pair is left");
        return this with { Split = $"{Split}-without-{other.Split}-images", Pairs = unseen };
    }
}
