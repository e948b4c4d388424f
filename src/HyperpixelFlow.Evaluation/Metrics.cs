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
            PckThreshold.KeypointExtent => Point2.Extent(pair.TargetPoints),
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
            if (predicted[i].DistanceTo(truth[i]) <= limit) correct++;
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

    /// <summary>
    /// Area under the ROC curve of a confidence separating right from wrong points: the probability that a random
    /// right point is more confident than a random wrong one (ties count half).
    /// </summary>
    public static double Auroc(IReadOnlyList<(double Confidence, bool Right)> points)
    {
        var sorted = points.OrderBy(p => p.Confidence).ToList();
        double rankSum = 0;
        for (int i = 0; i < sorted.Count;)
        {
            int j = i;
            while (j < sorted.Count && sorted[j].Confidence == sorted[i].Confidence) j++;
            double meanRank = (i + 1 + j) / 2.0;   // ranks i+1 .. j share their mean
            for (int k = i; k < j; k++) if (sorted[k].Right) rankSum += meanRank;
            i = j;
        }
        long right = points.Count(p => p.Right), wrong = points.Count - right;
        if (right == 0 || wrong == 0) throw new ArgumentException("AUROC needs right and wrong points");
        return (rankSum - right * (right + 1) / 2.0) / ((double)right * wrong);
    }

    /// <summary>
    /// Expected calibration error of probabilities: points binned by confidence into <paramref name="bins"/> equal-width
    /// bins over [0, 1]; the mean over bins, weighted by their share of the points, of |fraction right - mean confidence|.
    /// </summary>
    public static double ExpectedCalibrationError(IReadOnlyList<(double Confidence, bool Right)> points, int bins)
    {
        double total = 0;
        foreach (var bin in points.GroupBy(p => Math.Min((int)(Math.Clamp(p.Confidence, 0, 1) * bins), bins - 1)))
            total += bin.Count() * Math.Abs(bin.Average(p => p.Right ? 1.0 : 0.0) - bin.Average(p => p.Confidence));
        return total / points.Count;
    }

    /// <summary>Fraction right among the most confident <paramref name="fraction"/> of the points (at least one).</summary>
    public static double AccuracyOfMostConfident(IReadOnlyList<(double Confidence, bool Right)> points, double fraction)
    {
        int keep = Math.Max(1, (int)Math.Round(points.Count * fraction));
        return points.OrderByDescending(p => p.Confidence).Take(keep).Average(p => p.Right ? 1.0 : 0.0);
    }

    /// <summary>
    /// The risk-coverage (sparsification) curve: for every coverage k / n of the most confident points, the fraction of
    /// them that are wrong.
    /// </summary>
    public static IReadOnlyList<(double Coverage, double Risk)> RiskCoverage(IReadOnlyList<(double Confidence, bool Right)> points)
    {
        var sorted = points.OrderByDescending(p => p.Confidence).ToList();
        var curve = new List<(double, double)>(sorted.Count);
        int wrong = 0;
        for (int k = 0; k < sorted.Count; k++)
        {
            if (!sorted[k].Right) wrong++;
            curve.Add(((k + 1) / (double)sorted.Count, wrong / (double)(k + 1)));
        }
        return curve;
    }
}
