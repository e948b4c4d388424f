namespace HyperpixelFlow.Hyperpixels;

/// <summary>
/// How bilinear upsampling with align_corners=true (as the paper upsamples coarse layers) builds each kept hyperpixel
/// of a grid from a low-resolution map: the 4 corner cells (row-major indices into the low map) and their weights,
/// computed in float32 like the upsampling operator.
/// </summary>
internal static class BilinearBlend
{
    /// <summary>Per kept hyperpixel n: cells [4n .. 4n+3] = (y0,x0), (y0,x1), (y1,x0), (y1,x1) and their weights.</summary>
    public static (int[] Index, float[] Weight) Corners(HyperpixelGrid grid, int lowHeight, int lowWidth)
    {
        var index = new int[4 * grid.Count];
        var weight = new float[4 * grid.Count];
        var xs = Axis(grid.FullWidth, lowWidth);
        var ys = Axis(grid.FullHeight, lowHeight);
        for (int n = 0; n < grid.Count; n++)
        {
            var (x0, x1, lx) = xs[grid.GridX(n)];
            var (y0, y1, ly) = ys[grid.GridY(n)];
            index[4 * n] = y0 * lowWidth + x0;
            index[4 * n + 1] = y0 * lowWidth + x1;
            index[4 * n + 2] = y1 * lowWidth + x0;
            index[4 * n + 3] = y1 * lowWidth + x1;
            weight[4 * n] = (1 - ly) * (1 - lx);
            weight[4 * n + 1] = (1 - ly) * lx;
            weight[4 * n + 2] = ly * (1 - lx);
            weight[4 * n + 3] = ly * lx;
        }
        return (index, weight);
    }

    /// <summary>For each output position: lower and upper input cell and the weight of the upper one.</summary>
    public static (int Low, int High, float Lambda)[] Axis(int outputSize, int inputSize)
    {
        float scale = outputSize > 1 ? (float)(inputSize - 1) / (outputSize - 1) : 0f;
        var axis = new (int, int, float)[outputSize];
        for (int o = 0; o < outputSize; o++)
        {
            float position = scale * o;
            int low = Math.Min((int)position, inputSize - 1);
            int high = Math.Min(low + 1, inputSize - 1);
            axis[o] = (low, high, position - low);
        }
        return axis;
    }
}
