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
    public HyperpixelGrid Grid { get; }
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
    public HyperpixelSet(IReadOnlyList<Tensor> groups, HyperpixelGrid grid, int imageWidth, int imageHeight)
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
        float Dot(int a, int b)
        {
            if (a > b) (a, b) = (b, a);
            int ya = a / w, xa = a % w, yb = b / w, xb = b % w;
            if (a == b) return self[a];
            if (ya == yb) return right[ya * (w - 1) + xa];                 // xb = xa + 1
            if (xa == xb) return down[ya * w + xa];                        // yb = ya + 1
            return xb > xa ? downRight[ya * (w - 1) + xa] : downLeft[ya * (w - 1) + xb];
        }
        var (index, weight) = BilinearBlend.Corners(grid, h, w);
        for (int n = 0; n < grid.Count; n++)
        {
            float sum = 0;
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 4; l++)
                    sum += weight[4 * n + k] * weight[4 * n + l] * Dot(index[4 * n + k], index[4 * n + l]);
            norms[n] += sum;
        }
    }

    /// <summary>A set from dense features [N, C] of the kept window (one group at full resolution; the rest of the grid is zero).</summary>
    public static HyperpixelSet FromDense(Tensor features, HyperpixelGrid grid, int imageWidth, int imageHeight)
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

/// <summary>Builds hyperpixels from the candidate features of a backbone.</summary>
internal static class HyperpixelBuilder
{
    /// <summary>
    /// Groups the layers' maps by size (concatenating channels in layer order), places the hyperpixel grid at the first
    /// layer's map and prunes its margin. <paramref name="layerFeatures"/> are [1, C, h, w] in the order of
    /// <paramref name="layers"/> (ascending); they are not disposed.
    /// <para>
    /// <paramref name="hyperpixelStride"/> &gt; 0 places the grid at the selected layer of that stride instead (the fast
    /// paths, for the target image or for both: its hyperpixel count shrinks by the square of the ratio, and with it
    /// similarity and voting). Every layer is then resized to that map as the paper resizes them to the finest one
    /// (bilinear, align_corners=true, which samples a finer map at the grid's cells); the finer layers lead its group
    /// in layer order. 0 is the paper. Bilinear sampling beat 3x3 average pooling on PF-WILLOW's validation split
    /// (docs/performance-log.md, "Fast paths").
    /// </para>
    /// </summary>
    public static HyperpixelSet Build(IReadOnlyList<Tensor> layerFeatures, IReadOnlyList<int> layers, FeatureExtractor backbone,
        int imageWidth, int imageHeight, bool marginPruning, int hyperpixelStride = 0)
    {
        if (layerFeatures.Count != layers.Count || layerFeatures.Count == 0)
            throw new ArgumentException($"expected {layers.Count} feature maps, got {layerFeatures.Count}");
        foreach (var f in layerFeatures)
            if (f.dim() != 4 || f.shape[0] != 1) throw new ArgumentException($"feature maps must be [1, C, h, w], got [{string.Join(",", f.shape)}]");
        int gridLayer = GridLayer(layers, backbone, hyperpixelStride);
        var gridMap = layerFeatures[gridLayer];
        var groups = new List<Tensor>();
        using (var scope = NewDisposeScope())
        {
            var maps = layerFeatures.Select((f, i) => i < gridLayer ? ResizedTo(f, gridMap) : f).ToList();
            for (int i = 0; i < maps.Count;)
            {
                int j = i;
                while (j < maps.Count && maps[j].shape[2] == maps[i].shape[2] && maps[j].shape[3] == maps[i].shape[3]) j++;
                var members = maps.Skip(i).Take(j - i).Select(f => f[0]).ToList();
                groups.Add((members.Count == 1 ? members[0].clone() : cat(members, 0)).MoveToOuterDisposeScope());
                i = j;
            }
        }
        long h = groups[0].shape[1], w = groups[0].shape[2];
        // Boxes keep the first layer's receptive field on a coarser grid too: transfer averages the boxes that cover a
        // point, and the coarse layer's larger boxes would smooth the flow over a wider neighbourhood.
        int jump = backbone.Candidates[layers[gridLayer]].Jump, field = backbone.Candidates[layers[0]].ReceptiveField;
        var grid = HyperpixelGrid.Create(jump, field, (int)w, (int)h, imageWidth, imageHeight, marginPruning, tolerance: jump);
        return new HyperpixelSet(groups, grid, imageWidth, imageHeight);
    }

    /// <summary>Index (into <paramref name="layers"/>) of the layer whose map carries the grid.</summary>
    private static int GridLayer(IReadOnlyList<int> layers, FeatureExtractor backbone, int hyperpixelStride)
    {
        if (hyperpixelStride <= 0) return 0;
        var jumps = layers.Select(l => backbone.Candidates[l].Jump).ToList();
        int index = jumps.IndexOf(hyperpixelStride);
        if (index < 0)
            throw new HyperpixelFlowException($"hyperpixel stride {hyperpixelStride}: none of the selected layers ({string.Join(",", layers)}) " +
                $"has that stride; their strides are {string.Join(",", jumps.Distinct())}");
        return index;
    }

    /// <summary>A finer map [1, C, h, w] resized to <paramref name="grid"/>'s map: bilinear, align_corners=true.</summary>
    private static Tensor ResizedTo(Tensor map, Tensor grid) =>
        nn.functional.interpolate(map, [grid.shape[2], grid.shape[3]], mode: InterpolationMode.Bilinear, align_corners: true);
}
