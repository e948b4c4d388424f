using HyperpixelFlow.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Hyperpixels;

/// <summary>
/// Hyperpixels of one image: features [N, C] (one row per kept grid cell, row-major) and their grid geometry, with
/// the size of the (resized) image they came from. Owns the feature tensor.
/// </summary>
public sealed class HyperpixelSet(Tensor features, HyperpixelGrid grid, int imageWidth, int imageHeight) : IDisposable
{
    public Tensor Features { get; } = features;
    public HyperpixelGrid Grid { get; } = grid;
    public int ImageWidth { get; } = imageWidth;
    public int ImageHeight { get; } = imageHeight;
    public void Dispose() => Features.Dispose();
}

/// <summary>Builds hyperpixels from the candidate features of a backbone.</summary>
public static class HyperpixelBuilder
{
    /// <summary>
    /// Upsamples every layer to the first layer's map (bilinear, align_corners=true), concatenates channels and
    /// keeps the cells of the (optionally margin-pruned) grid. <paramref name="layerFeatures"/> are [1, C, h, w] in
    /// the order of <paramref name="layers"/> (ascending); the tensors are not disposed.
    /// </summary>
    public static HyperpixelSet Build(IReadOnlyList<Tensor> layerFeatures, IReadOnlyList<int> layers, Backbone backbone,
        int imageWidth, int imageHeight, bool marginPruning)
    {
        if (layerFeatures.Count != layers.Count || layerFeatures.Count == 0)
            throw new ArgumentException($"expected {layers.Count} feature maps, got {layerFeatures.Count}");
        foreach (var f in layerFeatures)
            if (f.dim() != 4 || f.shape[0] != 1) throw new ArgumentException($"feature maps must be [1, C, h, w], got [{string.Join(",", f.shape)}]");
        using var scope = NewDisposeScope();
        long h = layerFeatures[0].shape[2], w = layerFeatures[0].shape[3];
        var maps = layerFeatures.Select((f, i) => i == 0 || (f.shape[2] == h && f.shape[3] == w)
            ? f
            : nn.functional.interpolate(f, [h, w], mode: InterpolationMode.Bilinear, align_corners: true)).ToList();
        var hyperimage = cat(maps, 1)[0];
        var geometry = backbone.Candidates[layers[0]];
        var grid = HyperpixelGrid.Create(geometry.Jump, geometry.ReceptiveField, (int)w, (int)h, imageWidth, imageHeight,
            marginPruning, tolerance: geometry.Jump);
        var window = hyperimage[.., grid.Y0..(grid.Y0 + grid.Height), grid.X0..(grid.X0 + grid.Width)];
        var features = window.reshape(hyperimage.shape[0], -1).t().contiguous();
        return new HyperpixelSet(features.MoveToOuterDisposeScope(), grid, imageWidth, imageHeight);
    }
}
