using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow;

/// <summary>
/// The hyperpixels of one image at one working resolution, possibly mirrored: what the matching step consumes.
/// <see cref="Scale"/> maps original pixels to this view's (unmirrored) resized pixels.
/// </summary>
internal sealed class ImageView(double testScale, bool flipped, float scale, int width, int height, HyperpixelSet? asSource, HyperpixelSet asTarget)
    : IDisposable
{
    /// <summary>The test-time scale (a multiple of the max side) this view was made at; 1 for the primary one.</summary>
    public double TestScale { get; } = testScale;
    /// <summary>Whether the pixels were mirrored left-right before the backbone (target side only).</summary>
    public bool Flipped { get; } = flipped;
    /// <summary>Original pixels x Scale = this view's resized (unmirrored) pixels.</summary>
    public float Scale { get; } = scale;
    /// <summary>Resized size in pixels.</summary>
    public int Width { get; } = width;
    /// <summary>Resized height in pixels.</summary>
    public int Height { get; } = height;
    /// <summary>Hyperpixels for pairs where the image is the source (null in a mirrored view: only targets are mirrored).</summary>
    public HyperpixelSet? AsSource { get; } = asSource;
    /// <summary>Hyperpixels for pairs where it is the target: the same set unless the target grid has its own stride.</summary>
    public HyperpixelSet AsTarget { get; } = asTarget;

    /// <summary>Releases the view's hyperpixels.</summary>
    public void Dispose()
    {
        AsSource?.Dispose();
        if (!ReferenceEquals(AsTarget, AsSource)) AsTarget.Dispose();
    }
}

/// <summary>
/// Everything the matcher needs of one image, computed once (<c>HyperpixelMatcher.Describe</c>): one view per
/// test-time scale, plus a mirrored target view of each when the target flip is on. Views[0] is the primary one
/// (first scale, not mirrored), the frame in which the evaluator measures.
/// </summary>
public sealed class ImageDescription : IDisposable
{
    internal ImageDescription(IReadOnlyList<ImageView> views, int originalWidth, int originalHeight) =>
        (Views, OriginalWidth, OriginalHeight) = (views, originalWidth, originalHeight);

    /// <summary>The views, primary first.</summary>
    internal IReadOnlyList<ImageView> Views { get; }
    /// <summary>The first scale, not mirrored.</summary>
    internal ImageView Primary => Views[0];
    /// <summary>Width of the original image.</summary>
    public int OriginalWidth { get; }
    /// <summary>Height of the original image.</summary>
    public int OriginalHeight { get; }

    /// <summary>Releases every view.</summary>
    public void Dispose()
    {
        foreach (var view in Views) view.Dispose();
    }
}
