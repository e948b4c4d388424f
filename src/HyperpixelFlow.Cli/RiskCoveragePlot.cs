using HyperpixelFlow.Visualization;
using SkiaSharp;

namespace HyperpixelFlow.Cli;

/// <summary>
/// The risk-coverage (sparsification) plot of an evaluation: keep the most confident fraction of the keypoints
/// (coverage, x) and see which fraction of them is wrong (risk, y), for the calibrated confidence, the raw score and
/// the oracle that knows which points are right. A good confidence stays low and close to the oracle.
/// </summary>
internal static class RiskCoveragePlot
{
    public static void Write(string path, IReadOnlyList<(string Name, SKColor Color, IReadOnlyList<(double Confidence, bool Right)> Points)> curves, string title)
    {
        const int width = 560, height = 400, left = 60, right = 150, top = 36, bottom = 50;
        using var bitmap = new SKBitmap(width, height);
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.White);
        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1, IsAntialias = true, Style = SKPaintStyle.Stroke };
        using var grid = new SKPaint { Color = new SKColor(225, 225, 225), StrokeWidth = 1, Style = SKPaintStyle.Stroke };
        using var font = new SKFont(SKTypeface.Default, 12);
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        float plotW = width - left - right, plotH = height - top - bottom;
        double maxRisk = Math.Max(0.05, curves.SelectMany(c => Metrics.RiskCoverage(c.Points)).Select(p => p.Risk).DefaultIfEmpty(0).Max());
        maxRisk = Math.Ceiling(maxRisk * 10) / 10;
        SKPoint At(double coverage, double risk) => new(left + (float)coverage * plotW, top + plotH - (float)(risk / maxRisk) * plotH);
        for (int i = 0; i <= 10; i++)
        {
            double c = i / 10.0, r = maxRisk * i / 10;
            canvas.DrawLine(At(c, 0), At(c, maxRisk), grid);
            canvas.DrawLine(At(0, r), At(1, r), grid);
            if (i % 2 == 0)
            {
                canvas.DrawText($"{c:0.0}", At(c, 0).X - 8, top + plotH + 16, font, text);
                canvas.DrawText($"{r:0.00}", left - 38, At(0, r).Y + 4, font, text);
            }
        }
        canvas.DrawRect(left, top, plotW, plotH, axis);
        canvas.DrawText("coverage (most confident fraction kept)", left + plotW / 2 - 110, height - 14, font, text);
        canvas.DrawText("risk (fraction wrong)", 6, top - 10, font, text);
        canvas.DrawText(title, left + 140, 16, font, text);
        int legend = 0;
        foreach (var (name, color, points) in curves)
        {
            if (points.Count == 0) continue;
            using var line = new SKPaint { Color = color, StrokeWidth = 2, IsAntialias = true, Style = SKPaintStyle.Stroke };
            using var pathLine = new SKPath();
            var curve = Metrics.RiskCoverage(points);
            pathLine.MoveTo(At(curve[0].Coverage, curve[0].Risk));
            foreach (var (coverage, risk) in curve) pathLine.LineTo(At(coverage, risk));
            canvas.DrawPath(pathLine, line);
            float y = top + 14 + 18 * legend++;
            canvas.DrawLine(width - right + 10, y - 4, width - right + 30, y - 4, line);
            canvas.DrawText(name, width - right + 36, y, font, text);
        }
        File.WriteAllBytes(path, Pictures.EncodePng(bitmap));
    }
}
