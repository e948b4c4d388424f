using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;
using HyperpixelFlow.Imaging;
using static TorchSharp.torch;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Reference;

/// <summary>
/// The paper code's pipeline, step by step as it computes it, on this engine: the backbone in module form (separate
/// batch norms, NCHW), dense hyperpixels (every layer upsampled and concatenated), one dense cosine GEMM, the pairwise
/// Hough voting of <see cref="PairwiseHoughMatching"/> and the box-mean transfer, always on the paper's grid with the
/// paper's vote weights. The reference that <c>hpf bench --baseline</c> times and that tests hold the fused pipeline
/// to; slow and memory-hungry (N x M index tensors) by design.
/// </summary>
internal static class PaperReferencePipeline
{
    /// <summary>
    /// Transfers source points (original pixels) into the resized target's pixels, lapping "resize", "backbone",
    /// "hyperpixels", "similarity", "voting" and "transfer" on <paramref name="timer"/>.
    /// </summary>
    public static IReadOnlyList<Point2> TransferResized(HyperpixelMatcher matcher, RgbImage sourceImage, RgbImage targetImage,
        IReadOnlyList<Point2> sourcePoints, StageTimer? timer = null)
    {
        using var scope = NewDisposeScope();
        var options = matcher.Options;
        using var ps = matcher.Prepare(sourceImage);
        using var pt = matcher.Prepare(targetImage);
        timer?.Lap("resize");
        var backbone = matcher.Backbone as Backbones.ResNetBackbone
            ?? throw new HyperpixelFlowException($"the paper's reference pipeline runs a ResNet in module form; backbone {matcher.Backbone.Name} is not one");
        var fs = backbone.Network.ExtractCandidates(backbone.Preprocessing.Apply(ps.Rgb), matcher.Layers);
        var ft = backbone.Network.ExtractCandidates(backbone.Preprocessing.Apply(pt.Rgb), matcher.Layers);
        timer?.Lap("backbone");
        using var source = HyperpixelBuilder.Build(fs, matcher.Layers, backbone, ps.Width, ps.Height, options.Hyperpixels.MarginPruning);
        using var target = HyperpixelBuilder.Build(ft, matcher.Layers, backbone, pt.Width, pt.Height, options.Hyperpixels.MarginPruning);
        var (denseSource, denseTarget) = (source.Dense(), target.Dense());
        timer?.Lap("hyperpixels");
        var similarity = RegularizedHoughMatching.Similarity(denseSource, denseTarget, options.Matching.SimilarityExponent);
        timer?.Lap("similarity");
        var space = HoughSpace.For(source.ImageWidth, source.ImageHeight, target.ImageWidth, target.ImageHeight, options.Matching.HoughCells);
        using var gaussian = RegularizedHoughMatching.GaussianKernel(options.Matching.HoughKernelSize);
        var best = PairwiseHoughMatching.Confidence(similarity, source, target, space, gaussian).argmax(1).data<long>().ToArray();
        timer?.Lap("voting");
        var field = new DisplacementField(source.Grid, target.Grid, best);
        var transferred = sourcePoints.Select(p => field.Transfer(new Point2((float)p.X * ps.Scale, (float)p.Y * ps.Scale))).ToList();
        timer?.Lap("transfer");
        return transferred;
    }
}
