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

    /// <inheritdoc />
    public override string ToString() => $"({X:0.###}, {Y:0.###})";
}
