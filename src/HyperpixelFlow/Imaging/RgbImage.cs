using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Imaging;

/// <summary>A decoded 8-bit RGB image (alpha dropped, as PIL's convert('RGB') does), row-major, 3 bytes a pixel.</summary>
public sealed class RgbImage
{
    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>Row-major RGB bytes, three per pixel.</summary>
    public byte[] Pixels { get; }
    /// <summary>Where it came from, for error messages ("synthetic" when made in memory).</summary>
    public string Source { get; }

    /// <summary>An image from packed RGB bytes; <paramref name="source"/> names it in errors.</summary>
    public RgbImage(int width, int height, byte[] pixels, string source = "synthetic")
    {
        if (width <= 0 || height <= 0) throw new HyperpixelFlowException($"{source}: image size {width}x{height} is empty");
        if (pixels.Length != checked(width * height * 3))
            throw new ArgumentException($"expected {width * height * 3} bytes for {width}x{height} RGB, got {pixels.Length}", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
        Source = source;
    }

    /// <summary>The image as a float tensor [1, 3, H, W] with RGB values in 0..1.</summary>
    public Tensor ToTensor(Device? device = null)
    {
        using var scope = NewDisposeScope();
        // An explicit Scalar held to the end of the scope: an implicitly converted number is referenced by nobody during
        // the native call, so the finalizer may free it midway (seen once in a 10,000-image transfer).
        using var byteRange = 255f.ToScalar();
        var hwc = tensor(Pixels, new long[] { Height, Width, 3 }, dtype: ScalarType.Byte);
        var chw = hwc.permute(2, 0, 1).unsqueeze(0).to(ScalarType.Float32).div_(byteRange);
        return (device is null ? chw : chw.to(device)).MoveToOuterDisposeScope();
    }

    /// <summary>A Skia bitmap copy (for drawing).</summary>
    public SKBitmap ToBitmap()
    {
        var bitmap = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var rgba = new byte[Width * Height * 4];
        for (int p = 0, q = 0; p < Pixels.Length; p += 3, q += 4)
        {
            rgba[q] = Pixels[p];
            rgba[q + 1] = Pixels[p + 1];
            rgba[q + 2] = Pixels[p + 2];
            rgba[q + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        return bitmap;
    }

    /// <summary>The RGB pixels of a Skia bitmap (translucent pixels composited on white).</summary>
    public static RgbImage FromBitmap(SKBitmap bitmap, string source)
    {
        using var rgba = bitmap.ColorType == SKColorType.Rgba8888 && bitmap.AlphaType == SKAlphaType.Unpremul
            ? null
            : new SKBitmap(new SKImageInfo(bitmap.Width, bitmap.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        if (rgba is not null && !bitmap.CopyTo(rgba, SKColorType.Rgba8888))
            throw new HyperpixelFlowException($"{source}: cannot convert pixels to RGB");
        var src = rgba ?? bitmap;
        var rgb = new byte[src.Width * src.Height * 3];
        DropAlpha(src, rgb);
        return new RgbImage(src.Width, src.Height, rgb, source);
    }

    /// <summary>
    /// Unpremultiplied RGBA rows (with the bitmap's row stride) to packed RGB, translucent pixels composited on white
    /// (a transparent background is white, not whatever colour its hidden pixels hold); opaque pixels are copied as
    /// they are. Pointers, because span indexing made this loop cost more than the PNG decode itself.
    /// </summary>
    private static unsafe void DropAlpha(SKBitmap rgba, byte[] rgb)
    {
        byte* pixels = (byte*)rgba.GetPixels();
        int width = rgba.Width, rowBytes = rgba.RowBytes;
        fixed (byte* output = rgb)
        {
            for (int y = 0; y < rgba.Height; y++)
            {
                byte* from = pixels + (long)y * rowBytes, to = output + (long)y * width * 3;
                for (int x = 0; x < width; x++, from += 4, to += 3)
                {
                    int alpha = from[3];
                    if (alpha == 255)
                    {
                        to[0] = from[0];
                        to[1] = from[1];
                        to[2] = from[2];
                    }
                    else
                    {
                        int white = 255 * (255 - alpha) + 127;
                        to[0] = (byte)((from[0] * alpha + white) / 255);
                        to[1] = (byte)((from[1] * alpha + white) / 255);
                        to[2] = (byte)((from[2] * alpha + white) / 255);
                    }
                }
            }
        }
    }
}
