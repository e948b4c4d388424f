using HyperpixelFlow.Hyperpixels;
using static TorchSharp.torch;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Reference;

/// <summary>
/// Regularized Hough matching in the form the paper's code publishes it: a Hough bin id for every source / target pair
/// ([N, M] int64), one Hough space per source hyperpixel filled by index_add and then summed, Gaussian smoothing, and a
/// lookup per pair. Memory grows as N x M + N x bins. The matcher never runs it: it is the independent reference the
/// offset-based kernels are tested against, and the "paper formulation" that <c>hpf bench --baseline</c> times on the
/// same machine.
/// </summary>
internal static class PairwiseHoughMatching
{
    /// <summary>Row-major bin (y x BinsX + x) of every pair's vote: source extent - source box centre + target box centre.</summary>
    public static Tensor BinIds(HoughSpace space, HyperpixelSet source, HyperpixelSet target)
    {
        using var scope = NewDisposeScope();
        Tensor Axis(HyperpixelSet set, bool x, int count) =>
            tensor(Enumerable.Range(0, count).Select(n => set.Grid.Center(x ? set.Grid.GridX(n) : set.Grid.GridY(n))).ToArray());
        var (s, t) = (source.Grid.Count, target.Grid.Count);
        var cell = (float)space.CellSize;
        var binX = (source.ImageWidth - Axis(source, true, s)).unsqueeze(1).add(Axis(target, true, t).unsqueeze(0))
            .to_type(ScalarType.Float32).div(cell).to_type(ScalarType.Int64);
        var binY = (source.ImageHeight - Axis(source, false, s)).unsqueeze(1).add(Axis(target, false, t).unsqueeze(0))
            .to_type(ScalarType.Float32).div(cell).to_type(ScalarType.Int64);
        return binX.add_(binY.mul_(space.BinsX)).MoveToOuterDisposeScope();
    }

    /// <summary>Confidence [N, M] = similarity x smoothed votes of each pair's bin, by per-source Hough spaces.</summary>
    public static Tensor Confidence(Tensor similarity, HyperpixelSet source, HyperpixelSet target, HoughSpace space, Tensor gaussian)
    {
        using var scope = NewDisposeScope();
        var bins = BinIds(space, source, target);
        long n = bins.shape[0], binCount = (long)space.BinsX * space.BinsY;
        var perSource = bins.add(arange(n).mul(binCount).unsqueeze(1));
        var hough = zeros(n * binCount).index_add_(0, perSource.flatten(), similarity.flatten(), 1).view(n, binCount).sum(dim: 0);
        int pad = (int)gaussian.shape[0] / 2;
        var smoothed = nn.functional.conv2d(hough.view(1, 1, space.BinsY, space.BinsX),
            gaussian.view(1, 1, gaussian.shape[0], gaussian.shape[1]), padding: [pad, pad]).flatten();
        return similarity.mul(smoothed.index_select(0, bins.flatten()).view_as(similarity)).MoveToOuterDisposeScope();
    }
}
