namespace HyperpixelFlow.Flow;

/// <summary>An affine map of the plane: (x, y) -> (ax x + bx y + cx, ay x + by y + cy).</summary>
internal sealed class AffineMap(double[] x, double[] y)
{
    /// <summary>Where the map takes p.</summary>
    public Point2 Apply(Point2 p) => new(x[0] * p.X + x[1] * p.Y + x[2], y[0] * p.X + y[1] * p.Y + y[2]);

    /// <summary>
    /// The map fitted to point correspondences (from -> to) by least squares, refitted twice on the 70 % (at least
    /// <paramref name="minimumKept"/>) it fits best, so that a minority of wrong correspondences does not bend it.
    /// </summary>
    public static AffineMap FitRobust(IReadOnlyList<(Point2 From, Point2 To)> correspondences, int minimumKept = 6)
    {
        var kept = correspondences.ToList();
        for (int round = 0; ; round++)
        {
            var map = new AffineMap(LeastSquares(kept.Select(c => (c.From.X, c.From.Y, c.To.X))), LeastSquares(kept.Select(c => (c.From.X, c.From.Y, c.To.Y))));
            if (round == 2) return map;
            kept = kept.OrderBy(c => map.SquaredResidual(c.From, c.To)).Take(Math.Max(minimumKept, (int)(kept.Count * 0.7))).ToList();
        }
    }

    private double SquaredResidual(Point2 from, Point2 to)
    {
        var p = Apply(from);
        return Math.Pow(p.X - to.X, 2) + Math.Pow(p.Y - to.Y, 2);
    }

    /// <summary>(a, b, c) minimising the squared error of a x + b y + c = value (normal equations, 3 x 3).</summary>
    private static double[] LeastSquares(IEnumerable<(double X, double Y, double Value)> samples)
    {
        var m = new double[3, 4];
        foreach (var (x, y, v) in samples)
        {
            double[] row = [x, y, 1];
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++) m[i, j] += row[i] * row[j];
                m[i, 3] += row[i] * v;
            }
        }
        for (int i = 0; i < 3; i++) m[i, i] += 1e-6;   // a degenerate set (all points on one line) stays solvable
        for (int col = 0; col < 3; col++)
        {
            int pivot = Enumerable.Range(col, 3 - col).MaxBy(r => Math.Abs(m[r, col]));
            for (int j = 0; j < 4; j++) (m[col, j], m[pivot, j]) = (m[pivot, j], m[col, j]);
            for (int r = 0; r < 3; r++)
            {
                if (r == col || m[col, col] == 0) continue;
                double f = m[r, col] / m[col, col];
                for (int j = col; j < 4; j++) m[r, j] -= f * m[col, j];
            }
        }
        return [m[0, 3] / m[0, 0], m[1, 3] / m[1, 1], m[2, 3] / m[2, 2]];
    }
}
