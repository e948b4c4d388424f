using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow.Flow;

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
internal sealed class DisplacementField
{
    private readonly HyperpixelGrid _grid;
    private readonly SummedArea _sumX, _sumY;
    private readonly SummedArea _sumXX, _sumYY;
    private readonly SummedArea? _sumScore;
    private readonly float[] _dx, _dy;            // per kept cell, resized-image pixels
    private readonly float[]? _score;

    /// <summary>The field of integer best matches (target box of each source box), without scores.</summary>
    public DisplacementField(HyperpixelGrid sourceGrid, HyperpixelGrid targetGrid, IReadOnlyList<long> bestTargetOfSource)
        : this(sourceGrid, Displacements(sourceGrid, targetGrid, bestTargetOfSource, null), null)
    {
    }

    /// <summary>
    /// The field of a match: each source box moves to its best target box, or to the soft-argmax position where the
    /// match was refined; each cell's score is its match's normalised confidence.
    /// </summary>
    public DisplacementField(HyperpixelGrid sourceGrid, HyperpixelGrid targetGrid, Matching.HoughMatch match)
        : this(sourceGrid, Displacements(sourceGrid, targetGrid, match.BestTargetOfSource, match.RefinedTargetOfSource),
            Enumerable.Range(0, sourceGrid.Count).Select(i => (float)match.NormalizedConfidence(i)).ToArray())
    {
    }

    private DisplacementField(HyperpixelGrid sourceGrid, (float[] Dx, float[] Dy) displacement, float[]? score)
    {
        _grid = sourceGrid;
        (_dx, _dy, _score) = (displacement.Dx, displacement.Dy, score);
        _sumX = new SummedArea(_dx, sourceGrid.Width, sourceGrid.Height);
        _sumY = new SummedArea(_dy, sourceGrid.Width, sourceGrid.Height);
        _sumXX = new SummedArea(Array.ConvertAll(_dx, d => d * d), sourceGrid.Width, sourceGrid.Height);
        _sumYY = new SummedArea(Array.ConvertAll(_dy, d => d * d), sourceGrid.Width, sourceGrid.Height);
        if (score is not null) _sumScore = new SummedArea(score, sourceGrid.Width, sourceGrid.Height);
    }

    private static (float[], float[]) Displacements(HyperpixelGrid sourceGrid, HyperpixelGrid targetGrid, IReadOnlyList<long> bestTargetOfSource,
        (float X, float Y)[]? refined)
    {
        if (bestTargetOfSource.Count != sourceGrid.Count)
            throw new ArgumentException($"need one match per source hyperpixel ({sourceGrid.Count}), got {bestTargetOfSource.Count}");
        var dx = new float[sourceGrid.Count];
        var dy = new float[sourceGrid.Count];
        for (int n = 0; n < sourceGrid.Count; n++)
        {
            long t = bestTargetOfSource[n];
            if (t < 0 || t >= targetGrid.Count) throw new ArgumentOutOfRangeException(nameof(bestTargetOfSource), $"target index {t} out of range");
            var sourceBox = sourceGrid.BoxAt(n);
            if (refined is null)
            {
                var targetBox = targetGrid.BoxAt((int)t);
                dx[n] = targetBox.X1 - sourceBox.X1;
                dy[n] = targetBox.Y1 - sourceBox.Y1;
            }
            else
            {
                // Boxes of both grids have the first layer's size: a box's top-left moves with its centre.
                dx[n] = targetGrid.Origin + (targetGrid.X0 + refined[n].X) * targetGrid.Stride - targetGrid.HalfField - sourceBox.X1;
                dy[n] = targetGrid.Origin + (targetGrid.Y0 + refined[n].Y) * targetGrid.Stride - targetGrid.HalfField - sourceBox.Y1;
            }
        }
        return (dx, dy);
    }

    /// <summary>Where the source point p (resized-image pixels) lands in the resized target image.</summary>
    public Point2 Transfer(Point2 p)
    {
        if (!double.IsFinite(p.X) || !double.IsFinite(p.Y)) throw new ArgumentException($"point {p} is not finite");
        return Covering(p) is var (x0, x1, y0, y1)
            ? new Point2(p.X + _sumX.Mean(x0, x1, y0, y1), p.Y + _sumY.Mean(x0, x1, y0, y1))
            : new Point2(p.X + _dx[NearestCell(p)], p.Y + _dy[NearestCell(p)]);
    }

    /// <summary>
    /// Mean normalised confidence (0..1) of the boxes that move p (the nearest box's where none covers it); NaN for a
    /// field built without scores.
    /// </summary>
    public double Score(Point2 p)
    {
        if (_score is null) return double.NaN;
        return Covering(p) is var (x0, x1, y0, y1) ? _sumScore!.Mean(x0, x1, y0, y1) : _score[NearestCell(p)];
    }

    /// <summary>
    /// How much the boxes that move p disagree: the standard deviation of their displacements (resized pixels, x and y
    /// together); 0 where one box or none covers p.
    /// </summary>
    public double Spread(Point2 p) => Covering(p) is var (x0, x1, y0, y1) ? Spread(x0, x1, y0, y1) : 0;

    /// <summary>The spread of the displacements of the cells within <paramref name="radius"/> cells of p's nearest cell.</summary>
    public double Spread(Point2 p, int radius)
    {
        int n = NearestCell(p), gx = n % _grid.Width, gy = n / _grid.Width;
        return Spread(Math.Max(gx - radius, 0), Math.Min(gx + radius, _grid.Width - 1), Math.Max(gy - radius, 0), Math.Min(gy + radius, _grid.Height - 1));
    }

    private double Spread(int x0, int x1, int y0, int y1)
    {
        double mx = _sumX.Mean(x0, x1, y0, y1), my = _sumY.Mean(x0, x1, y0, y1);
        double variance = _sumXX.Mean(x0, x1, y0, y1) - mx * mx + _sumYY.Mean(x0, x1, y0, y1) - my * my;
        return Math.Sqrt(Math.Max(variance, 0));
    }

    /// <summary>
    /// The pair's dominant motion: an affine map of source to target positions (resized pixels) fitted to where the
    /// given cells' box centres move, by least squares, refitted twice on the 70 % of cells it fits best (robust to
    /// wrong matches). Identity where fewer than 6 cells are given.
    /// </summary>
    public Func<Point2, Point2> DominantMotion(IReadOnlyList<int> cells)
    {
        if (cells.Count < 6) return p => p;
        var map = AffineMap.FitRobust(cells.Select(c =>
        {
            var box = _grid.BoxAt(c);
            var centre = new Point2(0.5 * (box.X1 + box.X2), 0.5 * (box.Y1 + box.Y2));
            return (centre, new Point2(centre.X + _dx[c], centre.Y + _dy[c]));
        }).ToList());
        return map.Apply;
    }

    /// <summary>Window-local cells whose boxes contain p, or null when none does.</summary>
    private (int X0, int X1, int Y0, int Y1)? Covering(Point2 p)
    {
        var (x0, x1) = CoveringCells(p.X, _grid.X0, _grid.Width);
        var (y0, y1) = CoveringCells(p.Y, _grid.Y0, _grid.Height);
        return x0 > x1 || y0 > y1 ? null : (x0, x1, y0, y1);
    }

    /// <summary>Window-local cell range whose boxes cover coordinate v: o + gx*j - r/2 &lt;= v &lt;= o + gx*j + r/2.</summary>
    private (int First, int Last) CoveringCells(double v, int windowStart, int count)
    {
        int j = _grid.Stride, half = _grid.HalfField;
        double u = v - _grid.Origin;
        int first = (int)Math.Ceiling((u - half) / j) - windowStart;
        int last = (int)Math.Floor((u + half) / j) - windowStart;
        return (Math.Max(first, 0), Math.Min(last, count - 1));
    }

    private int NearestCell(Point2 p)
    {
        int gx = Math.Clamp(_grid.NearestCell(p.X) - _grid.X0, 0, _grid.Width - 1);
        int gy = Math.Clamp(_grid.NearestCell(p.Y) - _grid.Y0, 0, _grid.Height - 1);
        return gy * _grid.Width + gx;
    }

    /// <summary>Summed-area table of a width x height grid of values: the mean of any cell rectangle in O(1).</summary>
    private sealed class SummedArea
    {
        private readonly double[] _sums;   // (height + 1) x (width + 1)
        private readonly int _stride;

        public SummedArea(float[] values, int width, int height)
        {
            _stride = width + 1;
            _sums = new double[(width + 1) * (height + 1)];
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    int at = (y + 1) * _stride + x + 1;
                    _sums[at] = values[y * width + x] + _sums[at - 1] + _sums[at - _stride] - _sums[at - _stride - 1];
                }
        }

        /// <summary>Mean over cells [x0, x1] x [y0, y1] (inclusive).</summary>
        public double Mean(int x0, int x1, int y0, int y1) =>
            (_sums[(y1 + 1) * _stride + x1 + 1] - _sums[y0 * _stride + x1 + 1] - _sums[(y1 + 1) * _stride + x0] + _sums[y0 * _stride + x0])
            / ((double)(x1 - x0 + 1) * (y1 - y0 + 1));
    }
}
