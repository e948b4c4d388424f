namespace HyperpixelFlow.Hyperpixels;

/// <summary>
/// The hyperpixels of one image: a rectangular window (X0, Y0, Width x Height) of the feature grid
/// (FullWidth x FullHeight). Hyperpixel n (row-major in the window) sits at grid (X0 + n % Width, Y0 + n / Width)
/// and owns the receptive box [o + gx*s - r/2, o + gy*s - r/2, o + gx*s + r/2, o + gy*s + r/2] (r/2 integer division),
/// r being the receptive field of the first selected layer, s the grid's stride (that layer's jump on the paper's grid,
/// a multiple of it on a coarser one) and o the centre of cell 0 (the layer's <see cref="Backbones.CandidateGeometry.Origin"/>:
/// 0 for the paper's CNNs). Two words, two things: a layer's <em>jump</em> is the input pixels between its
/// neighbouring cells (<see cref="Backbones.CandidateGeometry"/>, the paper's term); the grid's <em>stride</em> is the
/// pixels between neighbouring hyperpixels (options: <c>Hyperpixels.Stride</c>; diagnostics: <c>HyperpixelStride</c>).
/// Margin pruning keeps a window because its conditions are per axis.
/// </summary>
internal sealed record HyperpixelGrid(int Stride, int ReceptiveField, int FullWidth, int FullHeight, int X0, int Y0, int Width, int Height, int Origin = 0)
{
    /// <summary>Number of hyperpixels (kept cells).</summary>
    public int Count => Width * Height;
    /// <summary>Half the receptive field (integer division), the boxes' half side.</summary>
    public int HalfField => ReceptiveField / 2;

    /// <summary>Feature-grid column of hyperpixel n.</summary>
    public int GridX(int n) => X0 + n % Width;
    /// <summary>Feature-grid row of hyperpixel n.</summary>
    public int GridY(int n) => Y0 + n / Width;

    /// <summary>Receptive box of hyperpixel n.</summary>
    public Box BoxAt(int n) => BoxOfCell(GridX(n), GridY(n));

    /// <summary>Receptive box of feature-grid cell (gx, gy).</summary>
    public Box BoxOfCell(int gx, int gy) =>
        new(Origin + gx * Stride - HalfField, Origin + gy * Stride - HalfField, Origin + gx * Stride + HalfField, Origin + gy * Stride + HalfField);

    /// <summary>
    /// Box centre of grid cell g along either axis, as the paper's code computes it: x1 + (x2 - x1) div 2 (equals origin + g * stride).
    /// </summary>
    public int Center(int g) => Origin + g * Stride - HalfField + (2 * HalfField) / 2;

    /// <summary>The cell whose centre is nearest to coordinate v along either axis (not clamped).</summary>
    public int NearestCell(double v) => (int)Math.Round((v - Origin) / Stride);

    /// <summary>
    /// The full grid, or with pruning the window of boxes that stay within <c>tolerance</c> pixels of an image of
    /// size (imageWidth, imageHeight): x1 &gt;= -tol, y1 &gt;= -tol, x2 &lt; W + tol, y2 &lt; H + tol. If pruning would
    /// leave an axis empty (a very small image), that axis is kept whole: a match from boxes that overhang the
    /// image beats no match at all.
    /// </summary>
    public static HyperpixelGrid Create(int stride, int receptiveField, int fullWidth, int fullHeight,
        int imageWidth, int imageHeight, bool prune, int tolerance, int origin = 0)
    {
        if (fullWidth < 1 || fullHeight < 1) throw new ArgumentException("feature grid is empty");
        int half = receptiveField / 2;
        (int x0, int w) = prune ? KeptRange(fullWidth, stride, origin, half, imageWidth, tolerance) : (0, fullWidth);
        (int y0, int h) = prune ? KeptRange(fullHeight, stride, origin, half, imageHeight, tolerance) : (0, fullHeight);
        return new HyperpixelGrid(stride, receptiveField, fullWidth, fullHeight, x0, y0, w, h, origin);
    }

    private static (int Start, int Count) KeptRange(int cells, int stride, int origin, int half, int extent, int tolerance)
    {
        int first = -1, last = -1;
        for (int g = 0; g < cells; g++)
        {
            bool keep = origin + g * stride - half >= -tolerance && origin + g * stride + half < extent + tolerance;
            if (!keep) continue;
            if (first < 0) first = g;
            last = g;
        }
        return first < 0 ? (0, cells) : (first, last - first + 1);
    }
}
