using HyperpixelFlow.Flow;
using HyperpixelFlow.Imaging;
using SkiaSharp;

namespace HyperpixelFlow.Visualization;

/// <summary>Pictures of a match a person can read at a glance: correspondences, colour-coded flow, warped source.</summary>
public static class Pictures
{
    /// <summary>Source and target side by side (tops aligned) with a coloured line between each matched pair.</summary>
    public static SKBitmap Correspondences(RgbImage source, RgbImage target, IReadOnlyList<PointMatch> matches)
    {
        int gap = 8;
        var canvasBitmap = new SKBitmap(source.Width + gap + target.Width, Math.Max(source.Height, target.Height));
        using var canvas = new SKCanvas(canvasBitmap);
        canvas.Clear(SKColors.White);
        using (var s = source.ToBitmap()) canvas.DrawBitmap(s, 0, 0);
        using (var t = target.ToBitmap()) canvas.DrawBitmap(t, source.Width + gap, 0);
        float radius = Math.Max(3f, Math.Max(canvasBitmap.Width, canvasBitmap.Height) / 200f);
        using var line = new SKPaint { IsAntialias = true, StrokeWidth = Math.Max(1.5f, radius / 2), Style = SKPaintStyle.Stroke };
        using var dot = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Fill };
        using var rim = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = 1.5f, Color = SKColors.White };
        for (int i = 0; i < matches.Count; i++)
        {
            var color = SKColor.FromHsv(360f * i / Math.Max(matches.Count, 1) % 360f, 90, 100);
            // Confident matches are drawn opaque, doubtful ones faint (confidence 0..1; unknown = 200 as before).
            double confidence = matches[i].Confidence;
            line.Color = color.WithAlpha(double.IsFinite(confidence) ? (byte)(40 + 215 * Math.Clamp(confidence, 0, 1)) : (byte)200);
            dot.Color = color;
            var a = new SKPoint((float)matches[i].Source.X, (float)matches[i].Source.Y);
            var b = new SKPoint((float)matches[i].Target.X + source.Width + gap, (float)matches[i].Target.Y);
            canvas.DrawLine(a, b, line);
            foreach (var p in new[] { a, b })
            {
                canvas.DrawCircle(p, radius, dot);
                canvas.DrawCircle(p, radius, rim);
            }
        }
        return canvasBitmap;
    }

    /// <summary>
    /// Flow as colour (Middlebury convention): hue = direction, saturation = magnitude relative to the largest one;
    /// invalid (NaN) pixels are black.
    /// </summary>
    public static SKBitmap FlowColors(FlowField flow)
    {
        var bitmap = new SKBitmap(flow.Width, flow.Height);
        double maxMagnitude = 1e-9;
        for (int i = 0; i < flow.Data.Length; i += 2)
        {
            double m = Math.Sqrt(flow.Data[i] * flow.Data[i] + flow.Data[i + 1] * flow.Data[i + 1]);
            if (double.IsFinite(m)) maxMagnitude = Math.Max(maxMagnitude, m);
        }
        var pixels = new SKColor[flow.Width * flow.Height];
        for (int n = 0; n < pixels.Length; n++)
        {
            double dx = flow.Data[2 * n], dy = flow.Data[2 * n + 1];
            if (!double.IsFinite(dx) || !double.IsFinite(dy)) { pixels[n] = SKColors.Black; continue; }
            double angle = (Math.Atan2(-dy, -dx) / Math.PI + 1) * 180;   // 0..360
            double magnitude = Math.Sqrt(dx * dx + dy * dy) / maxMagnitude;
            pixels[n] = SKColor.FromHsv((float)(angle % 360), (float)(100 * magnitude), 100);
        }
        bitmap.Pixels = pixels;
        return bitmap;
    }

    /// <summary>
    /// The source resampled into the target's frame: target pixel t takes the source colour at t + inverse(t), where
    /// <paramref name="inverseFlow"/> is the target -> source flow (bilinear sampling, clamped at the border).
    /// </summary>
    public static SKBitmap Warp(RgbImage source, FlowField inverseFlow)
    {
        var bitmap = new SKBitmap(inverseFlow.Width, inverseFlow.Height);
        var pixels = new SKColor[inverseFlow.Width * inverseFlow.Height];
        Parallel.For(0, inverseFlow.Height, y =>
        {
            for (int x = 0; x < inverseFlow.Width; x++)
            {
                var (dx, dy) = inverseFlow.At(x, y);
                pixels[y * inverseFlow.Width + x] = Sample(source, x + dx, y + dy);
            }
        });
        bitmap.Pixels = pixels;
        return bitmap;
    }

    private static SKColor Sample(RgbImage image, double x, double y)
    {
        x = Math.Clamp(x, 0, image.Width - 1);
        y = Math.Clamp(y, 0, image.Height - 1);
        int x0 = (int)x, y0 = (int)y, x1 = Math.Min(x0 + 1, image.Width - 1), y1 = Math.Min(y0 + 1, image.Height - 1);
        double fx = x - x0, fy = y - y0;
        Span<byte> rgb = stackalloc byte[3];
        for (int c = 0; c < 3; c++)
        {
            double top = image.Pixels[3 * (y0 * image.Width + x0) + c] * (1 - fx) + image.Pixels[3 * (y0 * image.Width + x1) + c] * fx;
            double bottom = image.Pixels[3 * (y1 * image.Width + x0) + c] * (1 - fx) + image.Pixels[3 * (y1 * image.Width + x1) + c] * fx;
            rgb[c] = (byte)Math.Round(top * (1 - fy) + bottom * fy);
        }
        return new SKColor(rgb[0], rgb[1], rgb[2]);
    }

    public static void SavePng(SKBitmap bitmap, string path)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        data.SaveTo(file);
    }
}
