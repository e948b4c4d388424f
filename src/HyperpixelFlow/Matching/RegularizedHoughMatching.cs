using HyperpixelFlow.Hyperpixels;
using TorchSharp;
using static TorchSharp.torch;

using HyperpixelFlow.Kernels;

namespace HyperpixelFlow.Matching;

/// <summary>
/// Regularized Hough matching (Min et al. 2019, after Cho et al. 2015): appearance similarity of every source /
/// target hyperpixel pair, votes for the pair's offset in a Hough space, Gaussian smoothing of that space, and
/// confidence = similarity x smoothed votes of the pair's offset bin.
/// <para>
/// Exact reformulation used here: box centres lie on the grid (centre = cell x jump), so a pair's bin depends only on
/// the grid offset (dx, dy) between the two cells. Votes are therefore first summed per grid offset (diagonal sums of
/// the similarity tensor), then per bin; confidence looks the smoothed bin up per offset. This gives the same bins and
/// the same sums as the pairwise formulation without its N x M index tensors (only the summation order differs).
/// </para>
/// </summary>
internal static class RegularizedHoughMatching
{
    /// <summary>max(cos(f_s, f_t), 0)^exponent for all pairs: [N, C] x [M, C] -> [N, M].</summary>
    public static Tensor Similarity(Tensor source, Tensor target, int exponent)
    {
        if (source.dim() != 2 || target.dim() != 2 || source.shape[1] != target.shape[1])
            throw new ArgumentException($"features must be [N, C] and [M, C], got [{string.Join(",", source.shape)}] and [{string.Join(",", target.shape)}]");
        using var scope = NewDisposeScope();
        using Scalar tiny = 1e-12, zero = 0, power = exponent;   // held to the end: see RgbImage.ToTensor
        var s = source / source.norm(1, true, 2).clamp_min(tiny);
        var t = target / target.norm(1, true, 2).clamp_min(tiny);
        var sim = s.matmul(t.t()).clamp_min_(zero);
        if (exponent != 1) sim = sim.pow_(power);
        return sim.MoveToOuterDisposeScope();
    }

    /// <summary>Normalised 2-D Gaussian of the paper's code: sigma = side / 2 / 2.354 on each axis, sum 1 (float32).</summary>
    public static Tensor GaussianKernel(int side)
    {
        if (side < 1 || side % 2 == 0) throw new ArgumentException("kernel side must be a positive odd number", nameof(side));
        using var scope = NewDisposeScope();
        var sigmaSquared = tensor((float)side).div(2).div(2.354).pow(2);
        int half = (side - 1) / 2;
        var axis = arange(-half, half + 1, dtype: ScalarType.Float32);
        var x = axis.unsqueeze(0).expand(side, side);
        var y = axis.unsqueeze(1).expand(side, side);
        var g = exp(-(x.pow(2).div(2).div(sigmaSquared) + y.pow(2).div(2).div(sigmaSquared)));
        return (g / g.sum()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Sums of a batch of matrices along their diagonals: a [B, n, m] -> [B, n + m - 1], where output k collects the
    /// entries (i, j) with j - i = k - (n - 1). Uses the skew trick (flip, pad, re-stride) instead of index tensors.
    /// </summary>
    public static Tensor DiagonalSums(Tensor a)
    {
        long batch = a.shape[0], n = a.shape[1], m = a.shape[2];
        using var scope = NewDisposeScope();
        var padded = nn.functional.pad(a.flip(1), [0, n]);                       // [B, n, m + n], row i' = n-1-i
        var skewed = padded.reshape(batch, n * (m + n))[.., ..(int)(n * (m + n - 1))].reshape(batch, n, m + n - 1);
        return skewed.sum(1).MoveToOuterDisposeScope();                          // column c = i' + j = j - i + n - 1
    }

    /// <summary>
    /// Summed similarity per grid offset: [N, M] -> [Ly, Lx] of <see cref="OffsetLattice"/> (index (dy + hs - 1, dx + ws - 1)
    /// for grids of equal jumps, by diagonal sums; grids of different jumps go through the [N, M] offset indices).
    /// </summary>
    public static Tensor OffsetVotes(Tensor similarity, HyperpixelGrid source, HyperpixelGrid target)
    {
        using var scope = NewDisposeScope();
        using var one = 1.ToScalar();   // held to the end: see RgbImage.ToTensor
        var lattice = OffsetLattice.Of(source, target);
        if (!lattice.SameSteps)
            return zeros(lattice.Height * lattice.Width, dtype: similarity.dtype, device: similarity.device)
                .index_add_(0, OffsetIds(lattice, similarity.device).flatten(), similarity.flatten(), one)
                .view(lattice.Height, lattice.Width).MoveToOuterDisposeScope();
        var sim4 = similarity.view(source.Height, source.Width, target.Height, target.Width);
        var xSums = DiagonalSums(sim4.permute(0, 2, 1, 3).reshape(-1, source.Width, target.Width));   // [hs*ht, Lx]
        long lx = xSums.shape[1];
        var ySums = DiagonalSums(xSums.view(source.Height, target.Height, lx).permute(2, 0, 1));       // [Lx, Ly]
        return ySums.t().contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Offset index (row-major in the lattice) of every source / target pair: [N, M] int64.</summary>
    public static Tensor OffsetIds(OffsetLattice lattice, Device? device = null)
    {
        using var scope = NewDisposeScope();
        Tensor Axis(int sourceCells, int targetCells, Func<int, int, int> index) =>
            tensor(Enumerable.Range(0, sourceCells * targetCells).Select(k => (long)index(k / targetCells, k % targetCells)).ToArray())
                .view(sourceCells, targetCells);
        var y = Axis(lattice.SourceHeight, lattice.TargetHeight, lattice.Y).mul(lattice.Width);
        var x = Axis(lattice.SourceWidth, lattice.TargetWidth, lattice.X);
        var ids = y.view(lattice.SourceHeight, 1, lattice.TargetHeight, 1) + x.view(1, lattice.SourceWidth, 1, lattice.TargetWidth);
        return ids.reshape(lattice.SourceHeight * lattice.SourceWidth, -1).to(device ?? CPU).MoveToOuterDisposeScope();
    }

    /// <summary>Bin index (row-major, bins_y x bins_x) of every grid offset: [Ly, Lx] int64.</summary>
    public static Tensor OffsetBins(HoughSpace space, HyperpixelSet source, HyperpixelSet target)
    {
        var (s, t) = (source.Grid, target.Grid);
        var lattice = OffsetLattice.Of(s, t);
        // Every pair with the same offset index votes into the same bin, so any pair of cells gives an index's bin
        // (indices no pair reaches, possible when the jumps differ, get no votes and keep bin 0).
        long[] AxisBins(int sourceCells, int targetCells, Func<int, int, int> index, int length,
            int sourceOrigin, int targetOrigin, int sourceExtent, int bins)
        {
            var result = new long[length];
            for (int cs = 0; cs < sourceCells; cs++)
                for (int ct = 0; ct < targetCells; ct++)
                    result[index(cs, ct)] = space.Bin(sourceExtent - s.Center(sourceOrigin + cs) + t.Center(targetOrigin + ct), bins);
            return result;
        }
        var binX = AxisBins(s.Width, t.Width, lattice.X, lattice.Width, s.X0, t.X0, source.ImageWidth, space.BinsX);
        var binY = AxisBins(s.Height, t.Height, lattice.Y, lattice.Height, s.Y0, t.Y0, source.ImageHeight, space.BinsY);
        using var scope = NewDisposeScope();
        var bx = tensor(binX).unsqueeze(0);
        var by = tensor(binY).unsqueeze(1);
        return (by * space.BinsX + bx).MoveToOuterDisposeScope();
    }

    /// <summary>Votes per grid offset [Ly, Lx] -> Hough bins -> Gaussian smoothing -> smoothed votes per grid offset [Ly, Lx].</summary>
    public static Tensor SmoothOffsetVotes(Tensor offsetVotes, HyperpixelSet source, HyperpixelSet target, HoughSpace space, Tensor gaussian)
    {
        using var scope = NewDisposeScope();
        using var one = 1.ToScalar();   // held to the end: see RgbImage.ToTensor
        var bins = OffsetBins(space, source, target).to(offsetVotes.device);
        var hough = zeros(space.BinsY * space.BinsX, device: offsetVotes.device)
            .index_add_(0, bins.flatten(), offsetVotes.flatten(), one);
        int pad = (int)gaussian.shape[0] / 2;
        var smoothed = nn.functional.conv2d(hough.view(1, 1, space.BinsY, space.BinsX),
            gaussian.to(offsetVotes.device).view(1, 1, gaussian.shape[0], gaussian.shape[1]), padding: [pad, pad]).flatten();
        return smoothed.index_select(0, bins.flatten()).view_as(offsetVotes).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Expands per-offset values [Ly, Lx] to every pair: [N, M] with entry (i, j) = values at the pair's offset index.
    /// </summary>
    public static Tensor ExpandOffsets(Tensor offsetValues, HyperpixelGrid source, HyperpixelGrid target)
    {
        using var scope = NewDisposeScope();
        var lattice = OffsetLattice.Of(source, target);
        if (!lattice.SameSteps)
            return offsetValues.flatten().index_select(0, OffsetIds(lattice, offsetValues.device).flatten())
                .view(source.Count, target.Count).MoveToOuterDisposeScope();
        long lx = offsetValues.shape[1];
        // Indexed by flipped source cells (hs-1-ys, ws-1-xs), the lookup is a plain stride pattern.
        var flipped = offsetValues.contiguous().as_strided([source.Height, source.Width, target.Height, target.Width], [lx, 1, lx, 1]);
        return flipped.flip(0, 1).reshape(source.Count, target.Count).MoveToOuterDisposeScope();
    }

    /// <summary>Confidence [N, M] = similarity x smoothed votes of each pair's offset bin.</summary>
    public static Tensor Confidence(Tensor similarity, HyperpixelSet source, HyperpixelSet target, HoughSpace space, Tensor gaussian)
    {
        using var scope = NewDisposeScope();
        var votes = SmoothOffsetVotes(OffsetVotes(similarity, source.Grid, target.Grid), source, target, space, gaussian);
        return (similarity * ExpandOffsets(votes, source.Grid, target.Grid)).MoveToOuterDisposeScope();
    }

    /// <summary>The confidence matrix [N, M] of two hyperpixel sets in the tensor formulation (the same values the fused kernels take the maxima of).</summary>
    internal static Tensor Confidence(HyperpixelSet source, HyperpixelSet target, int cells, VoteWeighting weighting, Tensor gaussian)
    {
        using var scope = NewDisposeScope();
        var space = HoughSpace.For(source.ImageWidth, source.ImageHeight, target.ImageWidth, target.ImageHeight, cells);
        var similarity = weighting.Weigh(Similarity(source.Dense(), target.Dense(), 1));
        return Confidence(similarity, source, target, space, gaussian).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Full RHM of two hyperpixel sets: best matches both ways and summary figures. <paramref name="weighting"/> turns
    /// cosines into vote weights (the paper's max(cos, 0)^3, or an optimal-transport plan). On the CPU the fused
    /// kernels run over the cosine matrix in row blocks of at most <paramref name="maxBlockBytes"/> (beyond that, blocks
    /// are recomputed for every pass instead of kept; the coarse layers' rows are computed a few low rows at a time, so
    /// memory stays bounded whatever the image size); elsewhere the tensor formulation runs on the dense hyperpixel features.
    /// <paramref name="refineRadius"/> is 0, or the radius (target cells) of the soft-argmax that refines every best match.
    /// </summary>
    internal static HoughMatch Match(HyperpixelSet source, HyperpixelSet target, int cells, VoteWeighting weighting, Tensor gaussian,
        StageTimer? timer = null, long maxBlockBytes = 256L << 20, SimilarityWorkspace? workspace = null, int refineRadius = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(refineRadius);
        var space = HoughSpace.For(source.ImageWidth, source.ImageHeight, target.ImageWidth, target.ImageHeight, cells);
        return source.Groups[0].device_type == DeviceType.CPU
            ? MatchFused(source, target, space, weighting, gaussian, timer, maxBlockBytes, workspace, refineRadius)
            : MatchTensors(source, target, space, weighting, gaussian, timer, refineRadius);
    }

    private static HoughMatch MatchTensors(HyperpixelSet source, HyperpixelSet target, HoughSpace space, VoteWeighting weighting,
        Tensor gaussian, StageTimer? timer, int refineRadius)
    {
        using var scope = NewDisposeScope();
        var similarity = weighting.Weigh(Similarity(source.Dense(), target.Dense(), 1));
        timer?.Lap("similarity");
        var confidence = Confidence(similarity, source, target, space, gaussian);
        var (rowMax, rowArg) = confidence.max(1);
        var bestSource = confidence.argmax(0).cpu().data<long>().ToArray();
        var bestTarget = rowArg.cpu().data<long>().ToArray();
        (float X, float Y)[]? refined = null;
        if (refineRadius > 0)
        {
            var values = confidence.cpu().data<float>().ToArray();
            int m = target.Grid.Count, wt = target.Grid.Width, ht = target.Grid.Height;
            refined = bestTarget.Select((j, i) => FusedHoughKernel.SubCellPeak((int)j % wt, (int)j / wt, wt, ht, refineRadius,
                (xt, yt) => values[(long)i * m + yt * wt + xt])).ToArray();
        }
        timer?.Lap("voting");
        return new HoughMatch(bestTarget, bestSource, space,
            similarity.sum().ToDouble(), similarity.max().ToDouble(), confidence.sum().ToDouble(), confidence.max().ToDouble(),
            rowMax.cpu().data<float>().ToArray(), refined);
    }

    private static unsafe HoughMatch MatchFused(HyperpixelSet source, HyperpixelSet target, HoughSpace space, VoteWeighting weighting,
        Tensor gaussian, StageTimer? timer, long maxBlockBytes, SimilarityWorkspace? workspace, int refineRadius)
    {
        using var scope = NewDisposeScope();
        var (s, t) = (source.Grid, target.Grid);
        int n = s.Count, m = t.Count;
        using var similarity = new FactoredSimilarity(source, target, workspace);
        int blockRows = (int)Math.Clamp(maxBlockBytes / (4L * m), 1, n);
        bool kept = blockRows >= n;
        var lattice = OffsetLattice.Of(s, t);
        var offsetVotes = new double[lattice.Height * lattice.Width];
        Tensor? whole = null;
        bool computed = false;
        // Raw cosines of a block: computed once when the whole matrix is kept, else recomputed on every pass.
        Tensor Cosines(int from, int to, CosineTileObserver? observer = null)
        {
            if (whole is not null) return whole;
            if (computed) timer?.Lap("voting");
            computed = true;
            var block = similarity.Cosines(from, to, workspace?.Block(to - from, m) ?? empty(to - from, m), observer);
            timer?.Lap("similarity");
            if (kept) whole = block;
            return block;
        }
        void Release(Tensor block)
        {
            if (!kept) block.Dispose();   // a view when it comes from the workspace: the buffer itself stays
        }
        weighting.Begin(n, m);
        // A kept matrix is computed once: the weighting's first pass then rides along, tile by tile, in cache.
        var firstPassInTiles = kept && weighting.Passes > 0 ? weighting.ObserveFirstPassInTiles() : null;
        for (int pass = 0; pass < weighting.Passes; pass++)
        {
            if (pass == 0 && firstPassInTiles is not null)
            {
                Cosines(0, n, firstPassInTiles);
                weighting.EndPass(pass);
                continue;
            }
            for (int from = 0; from < n; from += blockRows)
            {
                int to = Math.Min(n, from + blockRows);
                var block = Cosines(from, to);
                weighting.Observe(pass, TensorMemory.Floats(block), from, to - from, m);
                Release(block);
            }
            weighting.EndPass(pass);
        }
        double similarityMax = 0;
        for (int from = 0; from < n; from += blockRows)
        {
            int to = Math.Min(n, from + blockRows);
            var block = Cosines(from, to);
            similarityMax = Math.Max(similarityMax,
                FusedHoughKernel.WeighAndVote(TensorMemory.Floats(block), from, to - from, s, t, weighting, offsetVotes));
            Release(block);
        }
        timer?.Lap("voting");
        var offsetTensor = tensor(offsetVotes.Select(v => (float)v).ToArray(), [lattice.Height, lattice.Width]);
        var smoothed = SmoothOffsetVotes(offsetTensor, source, target, space, gaussian).data<float>().ToArray();
        var best = new FusedHoughKernel.Best(n, m, refineRadius);
        for (int from = 0; from < n; from += blockRows)
        {
            int to = Math.Min(n, from + blockRows);
            var block = Cosines(from, to);
            if (!kept) FusedHoughKernel.Weigh(TensorMemory.Floats(block), from, to - from, m, weighting);
            FusedHoughKernel.ConfidenceArgmax(TensorMemory.Floats(block), from, to - from, s, t, smoothed, best);
            Release(block);
        }
        timer?.Lap("voting");
        return new HoughMatch(best.RowArg, best.ColumnArg, space, offsetVotes.Sum(), similarityMax, best.ConfidenceSum, best.ConfidenceMax,
            best.RowMax, best.RefinedX?.Zip(best.RefinedY!).ToArray());
    }
}
