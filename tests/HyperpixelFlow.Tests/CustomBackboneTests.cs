using HyperpixelFlow.Reference;
using HyperpixelFlow.Kernels;
using HyperpixelFlow.Backbones;
using HyperpixelFlow.Imaging;
using static TorchSharp.torch;

namespace HyperpixelFlow.Tests;

/// <summary>A network that is not a ResNet plugs into the matcher through <see cref="Backbone"/>.</summary>
public class CustomBackboneTests
{
    /// <summary>Candidates: colour averaged over 4 x 4 and over 8 x 8 pixels (jumps 4 and 8), colour-difference channels.</summary>
    private sealed class ColourPyramid() : Backbone("colour-pyramid", [new(4, 4), new(8, 8)], [0, 1], CPU, null)
    {
        public override Tensor[] Extract(Tensor rgb01, IReadOnlyList<int> layers)
        {
            using var scope = NewDisposeScope();
            var centred = rgb01 - rgb01.mean([2, 3], keepdim: true);
            var features = layers.Select(id => nn.functional.avg_pool2d(centred, Candidates[id].Jump).MoveToOuterDisposeScope()).ToArray();
            return features;
        }

        public override void Dispose() { }
    }

    [Fact]
    public void The_matcher_runs_on_any_backbone()
    {
        using var extractor = new ColourPyramid();
        using var matcher = new HyperpixelMatcher(extractor, Presets.Get("paper").Options);
        Assert.Equal([0, 1], matcher.Layers);
        var pair = SyntheticPairs.Create(160, 120, seed: 2);
        var result = matcher.Match(pair.Source, pair.Target, pair.SourcePoints);
        Assert.Equal("colour-pyramid", result.Backbone);
        Assert.Equal(4, result.Diagnostics.HyperpixelStride);           // the first layer's jump places the grid
        Assert.Equal(3 * 2, result.Diagnostics.HyperpixelChannels);
        Assert.All(result.Points, p => Assert.True(double.IsFinite(p.Target.X) && double.IsFinite(p.Target.Y)));
        Assert.Contains("valid ids are 0..1", Assert.Throws<HyperpixelFlowException>(() =>
            new HyperpixelMatcher(extractor, new HyperpixelFlowOptions().WithLayers([0, 2]))).Message);
        var reference = Assert.Throws<HyperpixelFlowException>(() => Reference.PaperReferencePipeline.TransferResized(matcher, pair.Source, pair.Target, pair.SourcePoints));
        Assert.Contains("not one", reference.Message);
    }
}
