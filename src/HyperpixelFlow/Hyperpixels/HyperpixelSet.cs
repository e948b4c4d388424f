using HyperpixelFlow.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Hyperpixels;

/// <summary>
/// Hyperpixels of one image, kept factored: the selected layers grouped by map size ([C_g, h_g, w_g] each; group 0
/// at the hyperimage resolution), the squared norm of every kept hyperpixel, and the grid geometry. The paper's dense
/// hyperpixel features (every group upsampled bilinearly with align_corners to group 0's map, channels concatenated,
/// kept window, [N, C]) are available through <see cref="Dense"/>; matching on the CPU never builds them, because
/// dot products of upsampled features equal upsampled dot products of the small maps (interpolation is linear).
/// Owns its tensors.
/// </summary>
public sealed class HyperpixelSet : IDisposable
{
    /// <summary>Where the hyperpixels are and the boxes they own.</summary>
    internal HyperpixelGrid Grid { get; }
    /// <summary>The selected layers' maps grouped by resolution, finest first ([C, h, w] each).</summary>
    public IReadOnlyList<Tensor> Groups { get; }
    /// <summary>|f(i)|^2 of each kept hyperpixel [N], float32.</summary>
    public Tensor SquaredNorms { get; }
    /// <summary>Width of the (resized) image the set was built from.</summary>
    public int ImageWidth { get; }
    /// <summary>Height of the (resized) image the set was built from.</summary>
    public int ImageHeight { get; }
    /// <summary>Channels of a hyperpixel (all groups).</summary>
    public long Channels => Groups.Sum(g => g.shape[0]);

    /// <summary>A set from layer groups on a grid, for an image of the given size; takes ownership of the groups.</summary>
    internal HyperpixelSet(IReadOnlyList<Tensor> groups, HyperpixelGrid grid, int imageWidth, int imageHeight)
    {
        if (groups.Count == 0 || groups.Any(g => g.dim() != 3)) throw new ArgumentException("groups must be non-empty [C, h, w] maps");
        if (groups[0].shape[1] != grid.FullHeight || groups[0].shape[2] != grid.FullWidth)
            throw new ArgumentException($"group 0 is {groups[0].shape[1]}x{groups[0].shape[2]}, the grid {grid.FullHeight}x{grid.FullWidth}");
        Groups = groups;
        Grid = grid;
        ImageWidth = imageWidth;
        ImageHeight = imageHeight;
        using var scope = NewDisposeScope();
        using var two = 2.ToScalar();   // held to the end: see RgbImage.ToTensor
        var norms = Window(groups[0]).pow(two).sum(dim: 0).flatten().to(ScalarType.Float32, CPU).data<float>().ToArray();
        foreach (var g in groups.Skip(1)) AddBlendedSquaredNorms(g, grid, norms);
        SquaredNorms = tensor(norms, device: groups[0].device).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Adds |upsampled g at each kept hyperpixel|^2 without upsampling: a hyperpixel is sum_k w_k g(c_k) over its 4
    /// corner cells, so its squared norm is sum_k,l w_k w_l &lt;g(c_k), g(c_l)&gt;, and those dot products are cells with
    /// themselves or with a right, lower, lower-right or lower-left neighbour: five small maps.
    /// </summary>
    private static void AddBlendedSquaredNorms(Tensor g, HyperpixelGrid grid, float[] norms)
    {
        int h = (int)g.shape[1], w = (int)g.shape[2];
        float[] Map(Tensor t) => t.sum(dim: 0).contiguous().to(ScalarType.Float32, CPU).data<float>().ToArray();
        var self = Map(g * g);                                                                             // [h, w]
        var right = w > 1 ? Map(g[.., .., ..^1] * g[.., .., 1..]) : [];                                    // [h, w-1]
        var down = h > 1 ? Map(g[.., ..^1, ..] * g[.., 1.., ..]) : [];                                     // [h-1, w]
        var downRight = h > 1 && w > 1 ? Map(g[.., ..^1, ..^1] * g[.., 1.., 1..]) : [];                    // [h-1, w-1]
        var downLeft = h > 1 && w > 1 ? Map(g[.., ..^1, 1..] * g[.., 1.., ..^1]) : [];                     // (y, x+1).(y+1, x)
        var weight = BilinearBlend.Corners(grid, h, w).Weight;
        var xs = BilinearBlend.Axis(grid.FullWidth, w);
        var ys = BilinearBlend.Axis(grid.FullHeight, h);
        Span<int> cellX = stackalloc int[4], cellY = stackalloc int[4];
        for (int n = 0; n < grid.Count; n++)
        {
            // The corners' cells as Corners orders them: (y0, x0), (y0, x1), (y1, x0), (y1, x1).
            var (x0, x1, _) = xs[grid.GridX(n)];
            var (y0, y1, _) = ys[grid.GridY(n)];
            (cellX[0], cellX[1], cellX[2], cellX[3]) = (x0, x1, x0, x1);
            (cellY[0], cellY[1], cellY[2], cellY[3]) = (y0, y0, y1, y1);
            float sum = 0;
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 4; l++)
                    sum += weight[4 * n + k] * weight[4 * n + l] * Dot(cellY[k], cellX[k], cellY[l], cellX[l]);
            norms[n] += sum;
        }

        // <g(a), g(b)> of cells a = (ya, xa) and b = (yb, xb), equal or neighbours.
        float Dot(int ya, int xa, int yb, int xb)
        {
            if (ya > yb || ya == yb && xa > xb) (ya, xa, yb, xb) = (yb, xb, ya, xa);
            if (ya == yb && xa == xb) return self[ya * w + xa];
            if (ya == yb) return right[ya * (w - 1) + xa];                 // xb = xa + 1
            if (xa == xb) return down[ya * w + xa];                        // yb = ya + 1
            return xb > xa ? downRight[ya * (w - 1) + xa] : downLeft[ya * (w - 1) + xb];
        }
    }

    /// <summary>A set from dense features [N, C] of the kept window (one group at full resolution; the rest of the grid is zero).</summary>
    internal static HyperpixelSet FromDense(Tensor features, HyperpixelGrid grid, int imageWidth, int imageHeight)
    {
        if (features.dim() != 2 || features.shape[0] != grid.Count)
            throw new ArgumentException($"features must be [{grid.Count}, C], got [{string.Join(",", features.shape)}]");
        Tensor map;
        using (var scope = NewDisposeScope())
        {
            map = zeros(features.shape[1], grid.FullHeight, grid.FullWidth, device: features.device);
            map[.., grid.Y0..(grid.Y0 + grid.Height), grid.X0..(grid.X0 + grid.Width)] = features.t().reshape(-1, grid.Height, grid.Width);
            map.MoveToOuterDisposeScope();
        }
        return new HyperpixelSet([map], grid, imageWidth, imageHeight);
    }

    /// <summary>The paper's hyperpixel features [N, C] (built on demand; the caller owns the tensor).</summary>
    public Tensor Dense()
    {
        using var scope = NewDisposeScope();
        var full = cat(Groups.Select(Upsampled).ToList(), 0);
        return Window(full).reshape(Channels, -1).t().contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Group 0's first <paramref name="channels"/> channels at the kept hyperpixels, [channels, N] (no interpolation at
    /// the hyperimage resolution); may share the group's storage.
    /// </summary>
    public Tensor FinestChannels(int channels) => Window(Groups[0][..channels]).reshape(channels, -1);

    /// <summary>A map brought to the hyperimage resolution: bilinear, align_corners=true (identity for group 0).</summary>
    public Tensor Upsampled(Tensor map) =>
        map.shape[1] == Grid.FullHeight && map.shape[2] == Grid.FullWidth
            ? map.alias()
            : nn.functional.interpolate(map.unsqueeze(0), [Grid.FullHeight, Grid.FullWidth], mode: InterpolationMode.Bilinear, align_corners: true)[0];

    /// <summary>The kept window of a full-resolution map [C, H, W] -> [C, h, w].</summary>
    public Tensor Window(Tensor full) => full[.., Grid.Y0..(Grid.Y0 + Grid.Height), Grid.X0..(Grid.X0 + Grid.Width)];

    /// <summary>Releases the groups' tensors.</summary>
    public void Dispose()
    {
        foreach (var g in Groups) g.Dispose();
        SquaredNorms.Dispose();
    }
}
