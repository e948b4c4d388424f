using HyperpixelFlow.Flow;
using SkiaSharp;

namespace HyperpixelFlow.Evaluation;

/// <summary>Correspondence metrics of the benchmarks: PCK, and for Caltech-101 label-transfer accuracy and IoU.</summary>
public static class Metrics
{
    /// <summary>
    /// PCK distance unit in resized-target pixels: the chosen extent in original pixels times the target's resize factor.
    /// </summary>
    public static double PckThresholdPixels(BenchmarkPair pair, PckThreshold kind, int targetWidth, int targetHeight, float targetScale)
    {
        double extent = kind switch
        {
            PckThreshold.Image => Math.Max(targetWidth, targetHeight),
            PckThreshold.BoundingBox => pair.TargetBox is { } b
                ? Math.Max(b.X2 - b.X1, b.Y2 - b.Y1)
                : throw new HyperpixelFlowException($"pair {pair.Id}: the bbox threshold needs a target bounding box, which this dataset lacks"),
            PckThreshold.KeypointExtent => pair.TargetPoints.Count == 0 ? 0 : Math.Max(
                pair.TargetPoints.Max(p => p.X) - pair.TargetPoints.Min(p => p.X),
                pair.TargetPoints.Max(p => p.Y) - pair.TargetPoints.Min(p => p.Y)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), "resolve Auto to the dataset's default first"),
        };
        return (float)extent * targetScale;
    }

    /// <summary>How many predictions lie within alpha x threshold (inclusive) of the truth.</summary>
    public static int CorrectKeypoints(IReadOnlyList<Point2> predicted, IReadOnlyList<Point2> truth, double thresholdPixels, double alpha)
    {
        if (predicted.Count != truth.Count) throw new ArgumentException("predicted and true keypoints differ in number");
        double limit = thresholdPixels * alpha;
        int correct = 0;
        for (int i = 0; i < truth.Count; i++)
        {
            double dx = predicted[i].X - truth[i].X, dy = predicted[i].Y - truth[i].Y;
            if (Math.Sqrt(dx * dx + dy * dy) <= limit) correct++;
        }
        return correct;
    }

    /// <summary>Polygon filled into a width x height mask (pixel centres inside; no antialiasing).</summary>
    public static bool[] Rasterize(IReadOnlyList<Point2> polygon, int width, int height)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bitmap))
        using (var path = new SKPath())
        using (var paint = new SKPaint { Color = SKColors.White, IsAntialias = false, Style = SKPaintStyle.Fill })
        {
            canvas.Clear(SKColors.Black);
            if (polygon.Count >= 3)
            {
                path.MoveTo((float)polygon[0].X, (float)polygon[0].Y);
                for (int i = 1; i < polygon.Count; i++) path.LineTo((float)polygon[i].X, (float)polygon[i].Y);
                path.Close();
                canvas.DrawPath(path, paint);
            }
        }
        var bytes = bitmap.GetPixelSpan();
        var mask = new bool[width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                mask[y * width + x] = bytes[y * bitmap.RowBytes + x] > 127;
        return mask;
    }

    /// <summary>
    /// Label-transfer accuracy (fraction of pixels whose object/background label agrees) and intersection over union of
    /// the transferred and true masks, as the paper's evaluation defines them for Caltech-101.
    /// </summary>
    public static (double LabelTransferAccuracy, double IntersectionOverUnion) MaskAgreement(bool[] predicted, bool[] truth)
    {
        if (predicted.Length != truth.Length || truth.Length == 0) throw new ArgumentException("masks must be non-empty and of equal size");
        int agree = 0, intersection = 0, union = 0;
        for (int i = 0; i < truth.Length; i++)
        {
            if (predicted[i] == truth[i]) agree++;
            if (predicted[i] && truth[i]) intersection++;
            if (predicted[i] || truth[i]) union++;
        }
        return ((double)agree / truth.Length, union == 0 ? 1.0 : (double)intersection / union);
    }
}
