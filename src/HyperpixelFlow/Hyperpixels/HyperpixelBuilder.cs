using HyperpixelFlow.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Hyperpixels;

/// <summary>Builds hyperpixels from the candidate features of a backbone.</summary>
internal static class HyperpixelBuilder
{
    /// <summary>
    /// Groups the layers' maps by size (concatenating channels in layer order), places the hyperpixel grid at the first
    /// layer's map and prunes its margin. <paramref name="layerFeatures"/> are [1, C, h, w] in the order of
    /// <paramref name="layers"/> (ascending); they are not disposed.
    /// <para>
    /// <paramref name="hyperpixelStride"/> &gt; 0 places the grid at the finest selected layer of at least that stride instead (the fast
    /// paths, for the target image or for both: its hyperpixel count shrinks by the square of the ratio, and with it
    /// similarity and voting). Every layer is then resized to that map as the paper resizes them to the finest one
    /// (bilinear, align_corners=true, which samples a finer map at the grid's cells); the finer layers lead its group
    /// in layer order. 0 is the paper. Bilinear sampling beat 3x3 average pooling on PF-WILLOW's validation split
    /// (docs/performance-log.md, "Fast paths").
    /// </para>
    /// </summary>
    public static HyperpixelSet Build(IReadOnlyList<Tensor> layerFeatures, IReadOnlyList<int> layers, Backbone backbone,
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
        var grid = HyperpixelGrid.Create(jump, field, (int)w, (int)h, imageWidth, imageHeight, marginPruning, tolerance: jump,
            origin: backbone.Candidates[layers[gridLayer]].Origin);
        return new HyperpixelSet(groups, grid, imageWidth, imageHeight);
    }

    /// <summary>
    /// Index (into <paramref name="layers"/>) of the layer whose map carries the grid: the first layer for 0, else the
    /// finest selected layer of at least <paramref name="hyperpixelStride"/> (a backbone whose layers share one stride,
    /// such as a ViT, keeps its grid; one with no layer that coarse is refused).
    /// </summary>
    internal static int GridLayer(IReadOnlyList<int> layers, Backbone backbone, int hyperpixelStride)
    {
        if (hyperpixelStride <= 0) return 0;
        var jumps = layers.Select(l => backbone.Candidates[l].Jump).ToList();
        int index = jumps.FindIndex(jump => jump >= hyperpixelStride);
        if (index < 0)
            throw new HyperpixelFlowException($"hyperpixel stride {hyperpixelStride}: none of the selected layers ({string.Join(",", layers)}) " +
                $"is that coarse; their strides are {string.Join(",", jumps.Distinct())}");
        return index;
    }

    /// <summary>A finer map [1, C, h, w] resized to <paramref name="grid"/>'s map: bilinear, align_corners=true.</summary>
    private static Tensor ResizedTo(Tensor map, Tensor grid) =>
        nn.functional.interpolate(map, [grid.shape[2], grid.shape[3]], mode: InterpolationMode.Bilinear, align_corners: true);
}
