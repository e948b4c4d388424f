using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Imaging;

/// <summary>
/// An image ready for the backbone: RGB 0..1 tensor [1, 3, h, w] after the max-side resize, with the factor that maps
/// original pixels to resized ones (resized = original x <see cref="Scale"/>). Owns the tensor.
/// </summary>
internal sealed class PreparedImage : IDisposable
{
    /// <summary>RGB 0..1, [1, 3, h, w], on the backbone's device.</summary>
    public Tensor Rgb { get; }
    /// <summary>Original pixels x Scale = resized pixels.</summary>
    public float Scale { get; }
    /// <summary>Width of the original image.</summary>
    public int OriginalWidth { get; }
    /// <summary>Height of the original image.</summary>
    public int OriginalHeight { get; }
    /// <summary>Resized width.</summary>
    public int Width => (int)Rgb.shape[3];
    /// <summary>Resized height.</summary>
    public int Height => (int)Rgb.shape[2];

    private PreparedImage(Tensor rgb, float scale, int originalWidth, int originalHeight)
    {
        Rgb = rgb;
        Scale = scale;
        OriginalWidth = originalWidth;
        OriginalHeight = originalHeight;
    }

    /// <summary>Whether the pixels are mirrored left-right (x' = Width - 1 - x); <see cref="Scale"/> is unaffected.</summary>
    public bool Flipped { get; private init; }

    /// <summary>
    /// Resizes so that the longer side is at most <paramref name="maxSide"/> (0 = keep), or exactly
    /// <paramref name="maxSide"/> with <paramref name="upscale"/> (smaller images are enlarged the same way): the
    /// paper's code computes ratio = maxSide / longer side and new side = int(side x ratio) in float32, and resizes
    /// bilinearly with align_corners=false and no antialiasing; this does the same so that sizes and keypoints match
    /// it exactly. <paramref name="flip"/> mirrors the result left-right.
    /// </summary>
    public static PreparedImage From(RgbImage image, int maxSide, Device? device = null, bool upscale = false, bool flip = false)
    {
        using var scope = NewDisposeScope();
        var rgb = image.ToTensor(device);
        float scale = 1f;
        int longer = Math.Max(image.Width, image.Height);
        if (maxSide > 0 && (longer > maxSide || (upscale && longer < maxSide)))
        {
            scale = (float)maxSide / longer;
            long h = (long)((float)image.Height * scale), w = (long)((float)image.Width * scale);
            rgb = nn.functional.interpolate(rgb, [Math.Max(h, 1), Math.Max(w, 1)], mode: InterpolationMode.Bilinear, align_corners: false);
        }
        if (flip) rgb = rgb.flip(3);
        return new PreparedImage(rgb.MoveToOuterDisposeScope(), scale, image.Width, image.Height) { Flipped = flip };
    }

    /// <summary>Releases the pixel tensor.</summary>
    public void Dispose() => Rgb.Dispose();
}
