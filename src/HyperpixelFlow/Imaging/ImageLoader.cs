using SkiaSharp;

namespace HyperpixelFlow.Imaging;

/// <summary>Decodes image files (PNG, JPEG incl. CMYK, WebP, BMP, GIF, 16-bit and grayscale) with clear errors.</summary>
public static class ImageLoader
{
    /// <summary>Reads and decodes an image file, refusing images over <paramref name="maxPixels"/> pixels.</summary>
    public static RgbImage Load(string path, long maxPixels = 100_000_000)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new HyperpixelFlowException("image path is empty");
        if (Directory.Exists(path)) throw new HyperpixelFlowException($"{path}: is a directory, not an image");
        if (!File.Exists(path)) throw new HyperpixelFlowException($"{path}: file not found");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HyperpixelFlowException($"{path}: cannot read file ({e.Message})", e);
        }
        return Decode(bytes, path, maxPixels);
    }

    /// <summary>An image file's size in pixels from its header, without decoding it.</summary>
    internal static (int Width, int Height) ReadSize(string path)
    {
        if (!File.Exists(path)) throw new HyperpixelFlowException($"{path}: file not found");
        using var codec = SKCodec.Create(path, out var result);
        if (codec is null) throw new HyperpixelFlowException($"{path}: not a readable image ({result})");
        return (codec.Info.Width, codec.Info.Height);
    }

    /// <summary>Decodes image bytes; <paramref name="source"/> names them in errors.</summary>
    public static RgbImage Decode(byte[] bytes, string source, long maxPixels = 100_000_000)
    {
        if (bytes.Length == 0) throw new HyperpixelFlowException($"{source}: file is empty");
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(new SKMemoryStream(data), out var result);   // the codec owns the stream
        if (codec is null) throw new HyperpixelFlowException($"{source}: not a readable image ({result})");
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0) throw new HyperpixelFlowException($"{source}: image has no pixels");
        if ((long)info.Width * info.Height > maxPixels)
            throw new HyperpixelFlowException(
                $"{source}: image is {info.Width}x{info.Height} = {(long)info.Width * info.Height} pixels, more than the limit of {maxPixels}");
        if (Math.Min(info.Width, info.Height) < ImageLimits.MinSide)
            throw new HyperpixelFlowException(
                $"{source}: image is {info.Width}x{info.Height}; both sides must be at least {ImageLimits.MinSide} px");
        // Keep the file's colour space (no colour management) so pixels equal what other decoders report.
        var target = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul, info.ColorSpace);
        using var bitmap = new SKBitmap(target);
        var status = codec.GetPixels(target, bitmap.GetPixels());
        if (status is not (SKCodecResult.Success))
            throw new HyperpixelFlowException($"{source}: image data is damaged or truncated ({status})");
        return RgbImage.FromBitmap(bitmap, source);
    }
}
