using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow.Flow;

/// <summary>A 2-D point (pixels; x right, y down).</summary>
public readonly record struct Point2(double X, double Y)
{
    public override string ToString() => $"({X:0.###}, {Y:0.###})";
}

/// <summary>
/// Flow formation from the best match of every source hyperpixel. A point p of the source image is transferred as in
/// the paper: every source box that contains p (inclusive) moves it by the offset between its best target box and
/// itself (target top-left + (p - source top-left)); the prediction is the mean over those boxes. With equal box
/// sizes that is p + mean(target centre - source centre). Box means come from summed-area tables of the per-cell
/// displacements, so a transfer costs O(1) and the dense flow of a whole image O(pixels).
/// <para>
/// A point that no box covers (possible after margin pruning, near the border) takes the displacement of the
/// hyperpixel whose box centre is nearest; the paper's code divides by zero there.
/// </para>
/// </summary>
public sealed class DisplacementField
{
    private readonly HyperpixelGrid _grid;
    private readonly double[] _sumX, _sumY;       // summed-area tables, (Height + 1) x (Width + 1)
    private readonly float[] _dx, _dy;            // per kept cell, resized-image pixels

    public DisplacementField(HyperpixelGrid sourceGrid, HyperpixelGrid targetGrid, IReadOnlyList<long> bestTargetOfSource)
    {
        if (bestTargetOfSource.Count != sourceGrid.Count)
            throw new ArgumentException($"need one match per source hyperpixel ({sourceGrid.Count}), got {bestTargetOfSource.Count}");
        _grid = sourceGrid;
        int w = sourceGrid.Width, h = sourceGrid.Height;
        _dx = new float[w * h];
        _dy = new float[w * h];
        _sumX = new double[(w + 1) * (h + 1)];
        _sumY = new double[(w + 1) * (h + 1)];
        for (int n = 0; n < sourceGrid.Count; n++)
        {
            long t = bestTargetOfSource[n];
            if (t < 0 || t >= targetGrid.Count) throw new ArgumentOutOfRangeException(nameof(bestTargetOfSource), $"target index {t} out of range");
            var sourceBox = sourceGrid.BoxAt(n);
            var targetBox = targetGrid.BoxAt((int)t);
            _dx[n] = targetBox.X1 - sourceBox.X1;
            _dy[n] = targetBox.Y1 - sourceBox.Y1;
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int at = (y + 1) * (w + 1) + x + 1;
                _sumX[at] = _dx[y * w + x] + _sumX[at - 1] + _sumX[at - (w + 1)] - _sumX[at - (w + 1) - 1];
                _sumY[at] = _dy[y * w + x] + _sumY[at - 1] + _sumY[at - (w + 1)] - _sumY[at - (w + 1) - 1];
            }
    }

    /// <summary>Where the source point p (resized-image pixels) lands in the resized target image.</summary>
    public Point2 Transfer(Point2 p)
    {
        if (!double.IsFinite(p.X) || !double.IsFinite(p.Y)) throw new ArgumentException($"point {p} is not finite");
        var (x0, x1) = CoveringCells(p.X, _grid.X0, _grid.Width);
        var (y0, y1) = CoveringCells(p.Y, _grid.Y0, _grid.Height);
        if (x0 > x1 || y0 > y1)
        {
            int n = NearestCell(p);
            return new Point2(p.X + _dx[n], p.Y + _dy[n]);
        }
        int w1 = _grid.Width + 1;
        double count = (double)(x1 - x0 + 1) * (y1 - y0 + 1);
        double RectSum(double[] s) => s[(y1 + 1) * w1 + x1 + 1] - s[y0 * w1 + x1 + 1] - s[(y1 + 1) * w1 + x0] + s[y0 * w1 + x0];
        return new Point2(p.X + RectSum(_sumX) / count, p.Y + RectSum(_sumY) / count);
    }

    /// <summary>Window-local cell range whose boxes cover coordinate v: gx*j - r/2 &lt;= v &lt;= gx*j + r/2.</summary>
    private (int First, int Last) CoveringCells(double v, int origin, int count)
    {
        int j = _grid.Jump, half = _grid.HalfField;
        int first = (int)Math.Ceiling((v - half) / j) - origin;
        int last = (int)Math.Floor((v + half) / j) - origin;
        return (Math.Max(first, 0), Math.Min(last, count - 1));
    }

    private int NearestCell(Point2 p)
    {
        int gx = Math.Clamp((int)Math.Round(p.X / _grid.Jump) - _grid.X0, 0, _grid.Width - 1);
        int gy = Math.Clamp((int)Math.Round(p.Y / _grid.Jump) - _grid.Y0, 0, _grid.Height - 1);
        return gy * _grid.Width + gx;
    }
}
