using HyperpixelFlow.Imaging;
using SkiaSharp;

namespace HyperpixelFlow.Tests;

public class ImageInputTests
{
    /// <summary>40 x 36 CMYK JPEG (Adobe-inverted channels), made with Pillow for this test.</summary>
    internal const string CmykJpeg = "/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwADAgIDAgIDAwMDBAMDBAUIBQUEBAUKBwcGCAwKDAwLCgsLDQ4SEA0OEQ4LCxAWEBETFBUVFQwPFxgWFBgSFBUU/8AAFAgAJAAoBEMRAE0RAFkRAEsRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAA4EQwBNAFkASwAAPwD9G/G//LSv0R/4WB/00/Wvzi8Ef8s6+6K+f/G//LSj/hYH/TT9a+gPBH/LOivn/wAb/wDLSj/hYH/TT9a+gPBH/LOivn/xv/y0o/4WB/00/WvoDwR/yzor5/8AG/8Ay0o/4WB/00/WvoDwR/yzor+gDxv/AMtK+av+Fgf9NP1r+f8A8Ef8s6K+f/G//LSj/hYH/TT9a+gPBH/LOivn/wAb/wDLSj/hYH/TT9a+gPBH/LOivn/xv/y0o/4WB/00/WvoDwR/yzor5/8AG/8Ay0o/4WB/00/WvoDwR/yzor+gDxv/AMtK+av+Fgf9NP1r+f8A8Ef8s6K+f/G//LSj/hYH/TT9a+gPBH/LOivn/wAb/wDLSj/hYH/TT9a+gPBH/LOivn/xv/y0o/4WB/00/WvoDwR/yzor5/8AG/8Ay0o/4WB/00/WvoDwR/yzor+gDxv/AMtK+af+Fgf9NP1r+f8A8Ef8s6K+f/G//LSj/hYH/TT9a+gPBH/LOivn/wAb/wDLSj/hYH/TT9a+gPBH/LOivn/xv/y0o/4WB/00/WvoDwR/yzor5/8AG/8Ay0o/4WB/00/WvoDwR/yzor+gDxv/AMtK8B/tq6/56V/P/wCCP+WdFfP/AI3/AOWlH9tXX/PSvoDwR/yzor5/8b/8tKP7auv+elfQHgj/AJZ0V8/+N/8AlpR/bV1/z0r6A8Ef8s6K+f8Axv8A8tKP7auv+elfQHgj/lnRX//Z";

    /// <summary>40 x 36 16-bit grayscale PNG, made with Pillow for this test.</summary>
    internal const string Gray16Png = "iVBORw0KGgoAAAANSUhEUgAAACgAAAAkEAAAAACOx/uJAAAASklEQVR4nGNkYGBzYHNgc2B3oA7NxMBFXThq4OA1kJGLWvSQ8fKIM5B6cTxkvDxqIKUGUjPRDBEvjzgDqRvHQ8LLI9bA0YqeAggAjJJB3QWuW1kAAAAASUVORK5CYII=";

    internal static byte[] Encode(SKBitmap bitmap, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, 95);
        return data.ToArray();
    }

    internal static SKBitmap Pattern(int w, int h, SKColorType type, SKAlphaType alpha = SKAlphaType.Premul)
    {
        var bitmap = new SKBitmap(new SKImageInfo(w, h, type, alpha));
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(new SKColor(30, 60, 90, 128));
        using var paint = new SKPaint { Color = new SKColor(220, 180, 40) };
        canvas.DrawCircle(w / 2f, h / 2f, Math.Min(w, h) / 3f, paint);
        return bitmap;
    }

    [Fact]
    public void Translucent_pixels_are_composited_on_white_and_opaque_ones_kept()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(40, 40, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < 40; y++)
            for (int x = 0; x < 40; x++)
                bitmap.SetPixel(x, y, x < 20 ? new SKColor(0, 0, 0, 0)            // fully transparent black: white
                    : y < 20 ? new SKColor(200, 100, 0, 128)                      // half-transparent orange
                    : new SKColor(10, 20, 30, 255));                              // opaque: unchanged
        var image = ImageLoader.Decode(Encode(bitmap), "rgba.png");
        byte[] Pixel(int x, int y) => image.Pixels[(3 * (y * 40 + x))..(3 * (y * 40 + x) + 3)];
        Assert.Equal([255, 255, 255], Pixel(5, 5));
        Assert.Equal([(byte)((200 * 128 + 255 * 127 + 127) / 255), (byte)((100 * 128 + 255 * 127 + 127) / 255), (byte)((255 * 127 + 127) / 255)], Pixel(30, 5));
        Assert.Equal([10, 20, 30], Pixel(30, 30));
    }

    [Fact]
    public void Cmyk_jpeg_decodes_to_rgb()
    {
        var image = ImageLoader.Decode(Convert.FromBase64String(CmykJpeg), "cmyk.jpg");
        Assert.Equal((40, 36), (image.Width, image.Height));
        // top-left pixel is C=0, M=0, Y=255, K=40 (Adobe stores inverted values): a yellowish, not black, colour
        Assert.True(image.Pixels[0] > 120 && image.Pixels[2] < 120, $"unexpected RGB {image.Pixels[0]},{image.Pixels[1]},{image.Pixels[2]}");
    }

    [Fact]
    public void Sixteen_bit_grayscale_png_decodes_to_equal_channels()
    {
        var image = ImageLoader.Decode(Convert.FromBase64String(Gray16Png), "gray16.png");
        Assert.Equal((40, 36), (image.Width, image.Height));
        int last = 3 * (image.Width - 1);
        Assert.Equal(image.Pixels[last], image.Pixels[last + 1]);
        Assert.True(image.Pixels[last] > image.Pixels[0], "gradient lost in decoding");
    }

    [Fact]
    public void Grayscale_and_alpha_pngs_decode()
    {
        using var gray = Pattern(48, 40, SKColorType.Gray8, SKAlphaType.Opaque);
        var g = ImageLoader.Decode(Encode(gray), "gray.png");
        Assert.Equal(g.Pixels[0], g.Pixels[1]);
        using var rgba = Pattern(48, 40, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var a = ImageLoader.Decode(Encode(rgba), "alpha.png");
        // half-transparent (30, 60, 90) on white
        Assert.Equal(new byte[] { 142, 157, 172 }, a.Pixels[..3]);
    }

    [Fact]
    public void Bad_files_give_clear_errors()
    {
        var dir = TestFolders.Create("bad");
        string text = Path.Combine(dir, "notes.png");
        File.WriteAllText(text, "this is not an image");
        using var big = Pattern(64, 64, SKColorType.Rgba8888);
        var png = Encode(big);
        string truncated = Path.Combine(dir, "truncated.png");
        File.WriteAllBytes(truncated, png[..(png.Length / 2)]);
        using var small = Pattern(20, 40, SKColorType.Rgba8888);
        string tiny = Path.Combine(dir, "tiny.png");
        File.WriteAllBytes(tiny, Encode(small));
        string empty = Path.Combine(dir, "empty.jpg");
        File.WriteAllBytes(empty, []);

        Assert.Contains("file not found", Assert.Throws<HyperpixelFlowException>(() => ImageLoader.Load(Path.Combine(dir, "missing.png"))).Message);
        Assert.Contains("is a directory", Assert.Throws<HyperpixelFlowException>(() => ImageLoader.Load(dir)).Message);
        Assert.Contains("not a readable image", Assert.Throws<HyperpixelFlowException>(() => ImageLoader.Load(text)).Message);
        Assert.Contains("damaged or truncated", Assert.Throws<HyperpixelFlowException>(() => ImageLoader.Load(truncated)).Message);
        Assert.Contains("at least 32 px", Assert.Throws<HyperpixelFlowException>(() => ImageLoader.Load(tiny)).Message);
        Assert.Contains("empty", Assert.Throws<HyperpixelFlowException>(() => ImageLoader.Load(empty)).Message);
        Assert.Contains("more than the limit", Assert.Throws<HyperpixelFlowException>(() => ImageLoader.Decode(png, "big.png", maxPixels: 1000)).Message);
    }
}
