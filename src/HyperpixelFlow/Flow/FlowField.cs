namespace HyperpixelFlow.Flow;

/// <summary>
/// Dense flow H x W x 2 (x displacement first) in pixels: the point (x, y) of the image it is defined on corresponds
/// to (x + dx, y + dy) in the other image.
/// </summary>
public sealed class FlowField
{
    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>Row-major, two floats per pixel: dx, dy.</summary>
    public float[] Data { get; }

    /// <summary>A flow of <paramref name="width"/> x <paramref name="height"/> pixels from its row-major (dx, dy) values.</summary>
    public FlowField(int width, int height, float[] data)
    {
        if (data.Length != width * height * 2) throw new ArgumentException($"flow data must have {width * height * 2} values");
        Width = width;
        Height = height;
        Data = data;
    }

    /// <summary>The flow (dx, dy) of pixel (x, y).</summary>
    public (float Dx, float Dy) At(int x, int y) => (Data[2 * (y * Width + x)], Data[2 * (y * Width + x) + 1]);

    /// <summary>
    /// The flow of every pixel of an image of size (width, height) in original pixels, from a displacement field that
    /// lives in resized pixels: p -> field.Transfer(p x fromScale) / toScale - p.
    /// </summary>
    internal static FlowField FromDisplacement(DisplacementField field, int width, int height, float fromScale, float toScale)
    {
        var data = new float[width * height * 2];
        Parallel.For(0, height, y =>
        {
            for (int x = 0; x < width; x++)
            {
                var t = field.Transfer(new Point2(x * (double)fromScale, y * (double)fromScale));
                data[2 * (y * width + x)] = (float)(t.X / toScale - x);
                data[2 * (y * width + x) + 1] = (float)(t.Y / toScale - y);
            }
        });
        return new FlowField(width, height, data);
    }
}
