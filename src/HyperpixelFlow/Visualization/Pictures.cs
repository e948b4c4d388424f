using HyperpixelFlow.Flow;
using HyperpixelFlow.Imaging;
using SkiaSharp;

namespace HyperpixelFlow.Visualization;

/// <summary>Pictures of a match a person can read at a glance: correspondences, colour-coded flow, warped source.</summary>
public static class Pictures
{
    /// <summary>At most this many correspondences are drawn; beyond it an even subsample is, and the picture says so.</summary>
    public const int MaxDrawnMatches = 64;

    /// <summary>
    /// Source and target side by side (tops aligned): each drawn match is a line from a filled, numbered dot on the
    /// source to a hollow, numbered ring on the target (numbers as in result.json, from 1), opaque when confident and
    /// faint when not. Beyond <see cref="MaxDrawnMatches"/> matches an even subsample is drawn, with a caption.
    /// </summary>
    public static SKBitmap Correspondences(RgbImage source, RgbImage target, IReadOnlyList<PointMatch> matches)
    {
        int gap = 8;
        var drawn = SubsampledIndices(matches.Count, MaxDrawnMatches);
        int caption = drawn.Count < matches.Count ? 22 : 0;
        var canvasBitmap = new SKBitmap(source.Width + gap + target.Width, Math.Max(source.Height, target.Height) + caption);
        using var canvas = new SKCanvas(canvasBitmap);
        canvas.Clear(SKColors.White);
        using (var s = source.ToBitmap()) canvas.DrawBitmap(s, 0, 0);
        using (var t = target.ToBitmap()) canvas.DrawBitmap(t, source.Width + gap, 0);
        float radius = Math.Max(3f, Math.Max(canvasBitmap.Width, canvasBitmap.Height) / 200f);
        bool crowded = drawn.Count > 20;
        using var line = new SKPaint { IsAntialias = true, StrokeWidth = crowded ? 1f : Math.Max(1.5f, radius / 2), Style = SKPaintStyle.Stroke };
        using var dot = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Fill };
        using var ring = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = Math.Max(2f, radius / 2) };
        using var rim = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = 1.5f, Color = SKColors.White };
        using var font = new SKFont(Typeface, crowded ? 10 : 12);
        using var label = new SKPaint { IsAntialias = true, Color = SKColors.Black };
        using var halo = new SKPaint { IsAntialias = true, Color = SKColors.White, Style = SKPaintStyle.Stroke, StrokeWidth = 3 };
        foreach (int i in drawn)
        {
            var color = SKColor.FromHsv(360f * i / Math.Max(matches.Count, 1) % 360f, 90, 100);
            // Confident matches are drawn opaque, doubtful ones faint (confidence 0..1; unknown = as confident).
            double confidence = matches[i].Confidence;
            line.Color = color.WithAlpha(double.IsFinite(confidence) ? (byte)(40 + 215 * Math.Clamp(confidence, 0, 1)) : (byte)200);
            dot.Color = ring.Color = color;
            var a = new SKPoint((float)matches[i].Source.X, (float)matches[i].Source.Y);
            var b = new SKPoint((float)matches[i].Target.X + source.Width + gap, (float)matches[i].Target.Y);
            canvas.DrawLine(a, b, line);
            canvas.DrawCircle(a, radius, dot);
            canvas.DrawCircle(a, radius, rim);
            canvas.DrawCircle(b, radius + 1, rim);
            canvas.DrawCircle(b, radius + 1, ring);
            foreach (var p in new[] { a, b })
            {
                string number = (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
                canvas.DrawText(number, p.X + radius + 2, p.Y - radius, font, halo);
                canvas.DrawText(number, p.X + radius + 2, p.Y - radius, font, label);
            }
        }
        if (caption > 0)
            using (var captionFont = new SKFont(Typeface, 13))
                canvas.DrawText($"showing {drawn.Count} of {matches.Count} points (an even subsample; all are in result.json)",
                    6, canvasBitmap.Height - 6, captionFont, label);
        return canvasBitmap;
    }

    /// <summary>Indices of an even subsample of at most <paramref name="cap"/> of <paramref name="count"/> items (all when fewer).</summary>
    public static IReadOnlyList<int> SubsampledIndices(int count, int cap) =>
        count <= cap ? Enumerable.Range(0, count).ToList() : Enumerable.Range(0, cap).Select(k => (int)((long)k * count / cap)).ToList();

    private static SKTypeface Typeface { get; } = SKTypeface.FromFamilyName("DejaVu Sans") ?? SKTypeface.Default;

    /// <summary>
    /// Flow as colour (Middlebury convention: hue = direction, saturation = magnitude relative to the largest one;
    /// invalid (NaN) pixels black) with a legend beside it: the colour wheel of directions and magnitudes and the
    /// magnitude that full saturation stands for. Without <paramref name="legend"/>: the flow's pixels alone (for an
    /// overlay; <see cref="FullColourMagnitude"/> gives its scale).
    /// </summary>
    public static SKBitmap FlowColors(FlowField flow, bool legend = true)
    {
        double maxMagnitude = FullColourMagnitude(flow);
        const int panel = 150, wheel = 44;
        var bitmap = legend ? new SKBitmap(flow.Width + panel, Math.Max(flow.Height, 2 * wheel + 90)) : new SKBitmap(flow.Width, flow.Height);
        var pixels = new SKColor[bitmap.Width * bitmap.Height];
        Array.Fill(pixels, SKColors.White);
        for (int y = 0; y < flow.Height; y++)
            for (int x = 0; x < flow.Width; x++)
            {
                var (dx, dy) = flow.At(x, y);
                pixels[y * bitmap.Width + x] = double.IsFinite(dx) && double.IsFinite(dy) ? FlowColor(dx, dy, maxMagnitude) : SKColors.Black;
            }
        if (!legend)
        {
            bitmap.Pixels = pixels;
            return bitmap;
        }
        // The wheel: the colour of a flow vector pointing from its centre to the pixel, full radius = largest magnitude.
        int cx = flow.Width + panel / 2, cy = wheel + 8;
        for (int y = cy - wheel; y <= cy + wheel; y++)
            for (int x = cx - wheel; x <= cx + wheel; x++)
            {
                double dx = x - cx, dy = y - cy;
                if (dx * dx + dy * dy <= wheel * wheel) pixels[y * bitmap.Width + x] = FlowColor(dx, dy, wheel);
            }
        bitmap.Pixels = pixels;
        using var canvas = new SKCanvas(bitmap);
        using var font = new SKFont(Typeface, 11);
        using var text = new SKPaint { IsAntialias = true, Color = SKColors.Black };
        float line = cy + wheel + 16;
        foreach (var caption in new[]
                 {
                     "hue: direction", "(wheel: from its centre)", $"full colour: {maxMagnitude:0.#} px",
                     "white: no motion", "black: filtered out",
                 })
        {
            canvas.DrawText(caption, flow.Width + 8, line, font, text);
            line += 14;
        }
        return bitmap;
    }

    /// <summary>The magnitude (pixels) that full colour stands for in <see cref="FlowColors"/>: the flow's largest finite one.</summary>
    public static double FullColourMagnitude(FlowField flow)
    {
        double maxMagnitude = 1e-9;
        for (int i = 0; i < flow.Data.Length; i += 2)
        {
            double m = Math.Sqrt(flow.Data[i] * flow.Data[i] + flow.Data[i + 1] * flow.Data[i + 1]);
            if (double.IsFinite(m)) maxMagnitude = Math.Max(maxMagnitude, m);
        }
        return maxMagnitude;
    }

    /// <summary>The Middlebury colour of a flow vector: hue from its direction, saturation from its magnitude / full.</summary>
    public static SKColor FlowColor(double dx, double dy, double full)
    {
        double angle = (Math.Atan2(-dy, -dx) / Math.PI + 1) * 180;   // 0..360
        double magnitude = Math.Min(1, Math.Sqrt(dx * dx + dy * dy) / full);
        return SKColor.FromHsv((float)(angle % 360), (float)(100 * magnitude), 100);
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

    /// <summary>Writes a bitmap as PNG.</summary>
    public static void SavePng(SKBitmap bitmap, string path) => File.WriteAllBytes(path, EncodePng(bitmap));

    /// <summary>A picture as PNG bytes. One row filter ("sub") and zlib level 3 instead of trying every filter at level 6:
    /// faster to write, the files about as large (figures in docs/performance-log.md).</summary>
    public static byte[] EncodePng(SKBitmap bitmap)
    {
        using var pixels = bitmap.PeekPixels();
        using var data = pixels.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.Sub, zLibLevel: 3))
            ?? throw new InvalidOperationException("the PNG encoder returned nothing");
        return data.ToArray();
    }
}
