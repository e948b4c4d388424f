namespace HyperpixelFlow.Flow;

/// <summary>A 2-D point (pixels; x right, y down).</summary>
public readonly record struct Point2(double X, double Y)
{
    /// <inheritdoc />
    public override string ToString() => $"({X:0.###}, {Y:0.###})";
}
