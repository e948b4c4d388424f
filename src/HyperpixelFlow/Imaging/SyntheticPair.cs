using HyperpixelFlow.Flow;
using SkiaSharp;

namespace HyperpixelFlow.Imaging;

/// <summary>Two synthetic images of "the same kind of object" with known corresponding keypoints.</summary>
internal sealed record SyntheticPair(RgbImage Source, RgbImage Target, IReadOnlyList<Point2> SourcePoints, IReadOnlyList<Point2> TargetPoints);

/// <summary>
/// Draws a cartoon creature (body, head, eyes, ears, legs, tail, textured fur) twice: as the source, and as a
/// different-looking instance (other colours, pattern and background) seen under a similarity transform. Used by
/// the demo and the tests; deterministic for a seed.
/// </summary>
internal static class SyntheticPairs
{
    /// <summary>Keypoints in the creature's own frame (units of a 400 x 300 canvas).</summary>
    private static readonly SKPoint[] CreatureKeypoints =
    [
        new(292, 92), new(318, 92), new(305, 118), new(270, 62), new(335, 62),  // eyes, nose, ears
        new(120, 225), new(165, 230), new(225, 230), new(265, 225), new(70, 140), // feet, tail tip
        new(190, 160), new(305, 145),                                              // body centre, mouth
    ];

    /// <summary>Draws a pair (a striped cat and a spotted one in another pose) with its true correspondences; the same seed gives the same pair.</summary>
    public static SyntheticPair Create(int width = 400, int height = 300, int seed = 1)
    {
        var random = new Random(seed);
        var sourceTransform = SKMatrix.CreateScale(width / 400f, height / 300f);
        float angle = 6f + (float)random.NextDouble() * 6f, scale = 0.78f + (float)random.NextDouble() * 0.1f;
        var targetTransform = sourceTransform
            .PostConcat(SKMatrix.CreateRotationDegrees(angle, width / 2f, height / 2f))
            .PostConcat(SKMatrix.CreateScale(scale, scale, width / 2f, height / 2f))
            .PostConcat(SKMatrix.CreateTranslation(width * 0.06f, height * 0.05f));
        var source = Draw(width, height, sourceTransform, new SKColor(70, 130, 180), new SKColor(205, 133, 63), new SKColor(120, 60, 20), stripes: true, "source");
        var target = Draw(width, height, targetTransform, new SKColor(60, 150, 90), new SKColor(150, 150, 160), new SKColor(40, 40, 50), stripes: false, "target");
        return new SyntheticPair(source, target, Map(sourceTransform), Map(targetTransform));
    }

    private static List<Point2> Map(SKMatrix m) =>
        CreatureKeypoints.Select(p => m.MapPoint(p)).Select(p => new Point2(p.X, p.Y)).ToList();

    private static RgbImage Draw(int width, int height, SKMatrix transform, SKColor background, SKColor fur, SKColor dark, bool stripes, string name)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using (var canvas = new SKCanvas(bitmap))
        {
            using var backgroundPaint = new SKPaint
            {
                Shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(width, height),
                    [background, background.WithRed((byte)(background.Red / 2))], SKShaderTileMode.Clamp),
            };
            canvas.DrawRect(0, 0, width, height, backgroundPaint);
            canvas.SetMatrix(transform);
            using var furPaint = new SKPaint { Color = fur, IsAntialias = true };
            using var darkPaint = new SKPaint { Color = dark, IsAntialias = true };
            using var whitePaint = new SKPaint { Color = SKColors.White, IsAntialias = true };
            using var linePaint = new SKPaint { Color = dark, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = 7 };
            // tail, legs, body, head, ears
            canvas.DrawLine(110, 160, 70, 140, linePaint);
            foreach (float x in new[] { 120f, 165f, 225f, 265f }) canvas.DrawRect(x - 9, 180, 18, 48, darkPaint);
            canvas.DrawOval(new SKRect(95, 110, 290, 205), furPaint);
            canvas.DrawCircle(305, 100, 42, furPaint);
            using (var ear = new SKPath())
            {
                ear.MoveTo(262, 80); ear.LineTo(270, 50); ear.LineTo(288, 70); ear.Close();
                ear.MoveTo(348, 80); ear.LineTo(335, 50); ear.LineTo(322, 70); ear.Close();
                canvas.DrawPath(ear, darkPaint);
            }
            if (stripes)
                for (float x = 125; x < 270; x += 28) canvas.DrawRect(x, 118, 9, 70, darkPaint);
            else
                for (float x = 130; x < 270; x += 34) canvas.DrawCircle(x, 150, 11, darkPaint);
            foreach (float x in new[] { 292f, 318f })
            {
                canvas.DrawCircle(x, 92, 9, whitePaint);
                canvas.DrawCircle(x, 92, 4.5f, darkPaint);
            }
            canvas.DrawCircle(305, 118, 6, darkPaint);
            canvas.DrawLine(295, 132, 315, 132, linePaint);
        }
        return RgbImage.FromBitmap(bitmap, name);
    }
}
