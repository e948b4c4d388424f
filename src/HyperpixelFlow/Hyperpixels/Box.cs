namespace HyperpixelFlow.Hyperpixels;

/// <summary>Axis-aligned box [X1, Y1, X2, Y2] in pixels of the (resized) image; bounds are inclusive.</summary>
public readonly record struct Box(float X1, float Y1, float X2, float Y2)
{
    /// <summary>Whether (x, y) lies in the box, bounds included.</summary>
    public bool Contains(double x, double y) => x >= X1 && x <= X2 && y >= Y1 && y <= Y2;
}
