namespace HyperpixelFlow.Flow;

/// <summary>A 2-D point (pixels; x right, y down).</summary>
public readonly record struct Point2(double X, double Y)
{
    /// <summary>Euclidean distance to another point.</summary>
    internal double DistanceTo(Point2 other)
    {
        double dx = X - other.X, dy = Y - other.Y;
        return Math.Sqrt(dx * dx + dy * dy);
    }

    /// <summary>Longer side of the points' bounding box (the PCK rule's keypoint extent; 0 for none).</summary>
    internal static double Extent(IReadOnlyList<Point2> points) => points.Count == 0 ? 0
        : Math.Max(points.Max(p => p.X) - points.Min(p => p.X), points.Max(p => p.Y) - points.Min(p => p.Y));

    /// <inheritdoc />
    public override string ToString() => $"({X:0.###}, {Y:0.###})";
}
