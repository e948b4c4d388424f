using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using HyperpixelFlow.Hyperpixels;
using TorchSharp;
using static TorchSharp.torch;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// Cosine similarity of hyperpixels without building the dense source hyperpixels. A hyperpixel is the concatenation
/// of layer groups, every coarse group upsampled bilinearly; the dot product of two hyperpixels is the sum over groups,
/// and since interpolation is linear, a coarse group's dot products are the bilinear blend (over the 4 cells each source
/// hyperpixel interpolates) of the small Gram matrix G = S_g^T T_g at both ends. So: finest group by one GEMM at full
/// resolution; each coarse group by a small GEMM over the low cells a block of source hyperpixels needs, blended along
/// the target axis (4 cells per target hyperpixel) and then along the source axis (4 rows per source hyperpixel);
/// divided by the norms. The sums are the paper's up to float rounding, at about a tenth of its multiply-adds for the
/// default layers, and nothing held grows with N x M beyond the block asked for. When the two grids sit on layers of
/// different strides (the coarse-target fast path), the groups are cut into channel segments that lie in one group on
/// each side; a side whose segment is at its grid's resolution blends with a single tap of weight 1.
/// </summary>
internal sealed unsafe class FactoredSimilarity : IDisposable
{
    private readonly Tensor? _finestSource, _finestTargetT;   // where the packed GEMM does not run: the finest group's [N, C] and [C, M]
    private readonly Tensor? _sourceMap;   // group 0 of the source, read in place where it runs (_finestSourceVectors)
    private readonly StridedVectors _finestSourceVectors;
    private readonly int _finestChannels;
    private readonly CoarseGroup[] _coarse;
    private readonly float[] _inverseSourceNorms, _inverseTargetNorms;
    private readonly int _targets;
    private readonly float[]? _packedFinestTarget;   // PackedGemm panels of the finest target group, where supported
    private readonly SimilarityWorkspace? _workspace;   // buffers for the coarse groups' rows, reused across pairs
    private bool _disposed;

    /// <summary>
    /// A coarse segment: its low-resolution source cells [C, hs*ws] (ws = <see cref="SourceLowWidth"/>) and target map
    /// [C, ht*wt], per source hyperpixel the 4 cells it blends with their weights, and how the target side is upsampled
    /// at the kept target hyperpixels. Where the packed kernels can give libtorch's bits for C channels
    /// (<see cref="PackedGemm.TorchBlockLength"/>), the cells are read as vectors in place and the target map packed: the
    /// Gram matrix's rows then come from it (libtorch's GEMM runs these small-k shapes far below the cores' rate and
    /// wakes its OpenMP threads for each), a whole low row of cells at a time into each worker's
    /// <see cref="RowRing"/>. Elsewhere <see cref="Rows"/> holds the dot products of the low cells [RowsFrom, RowsTo) with
    /// every target hyperpixel [RowsTo - RowsFrom, M], computed for the source rows asked for last. Either way memory
    /// stays proportional to a block of source hyperpixels, not to N x M.
    /// </summary>
    private sealed class CoarseGroup(Tensor sourceCells, int sourceLowWidth, Tensor target, int[] index, float[] weight, TargetAxes axes)
    {
        public Tensor SourceCells { get; } = sourceCells;
        public int SourceLowWidth { get; } = sourceLowWidth;
        public Tensor Target { get; } = target;
        public int[] Index { get; } = index;
        public float[] Weight { get; } = weight;
        public TargetAxes Axes { get; } = axes;
        public BlockedPanels? PackedTarget { get; init; }
        /// <summary>Packed groups: the low rows of cells a worker's ring holds (the most that one sub-block blends).</summary>
        public int RingLowRows { get; init; }
        public Tensor? Rows { get; set; }
        public int RowsFrom { get; set; }
        public int RowsTo { get; set; }

        /// <summary>The low cells that source hyperpixels [from, to) blend: [Low, High).</summary>
        public (int Low, int High) Cells(int from, int to)
        {
            int low = int.MaxValue, high = int.MinValue;
            for (int k = 4 * from; k < 4 * to; k++)
            {
                low = Math.Min(low, Index[k]);
                high = Math.Max(high, Index[k] + 1);
            }
            return (low, high);
        }

        /// <summary>The low rows of cells that source hyperpixels [from, to) blend: [First, Last].</summary>
        public (int First, int Last) LowRows(int from, int to)
        {
            var (low, high) = Cells(from, to);
            return (low / SourceLowWidth, (high - 1) / SourceLowWidth);
        }
    }

    /// <summary>
    /// The target side of a coarse group's upsampling at the kept target hyperpixels (w x h of them): per window column
    /// its two low columns and their weights, as the scalar form computes them; per window row its two low rows and the
    /// upper one's weight; and the span of low rows the window reads.
    /// </summary>
    private sealed record TargetAxes(int LowHeight, int LowWidth, int[] Low, int[] High, float[] LowWeight, float[] HighWeight,
        (int Low, int High, float Lambda)[] Rows)
    {
        public int Width => Low.Length;
        public int Height => Rows.Length;
        public int FirstLowRow => Rows[0].Low;
        public int LastLowRow => Rows[^1].High;

        public static TargetAxes Of(HyperpixelGrid target, int lowHeight, int lowWidth)
        {
            var xs = BilinearBlend.Axis(target.FullWidth, lowWidth);
            var ys = BilinearBlend.Axis(target.FullHeight, lowHeight)[target.Y0..(target.Y0 + target.Height)];
            int w = target.Width;
            var (low, high, lowWeight, highWeight) = (new int[w], new int[w], new float[w], new float[w]);
            for (int xt = 0; xt < w; xt++)
            {
                var (x0, x1, lx) = xs[target.X0 + xt];
                (low[xt], high[xt], lowWeight[xt], highWeight[xt]) = (x0, x1, 1 - lx, lx);
            }
            return new TargetAxes(lowHeight, lowWidth, low, high, lowWeight, highWeight, ys);
        }
    }

    /// <summary>The similarity of two hyperpixel sets; <paramref name="workspace"/>, when given, holds the coarse groups'
    /// rows in buffers reused from pair to pair (fresh ones cost page faults on every touch).</summary>
    public FactoredSimilarity(HyperpixelSet source, HyperpixelSet target, SimilarityWorkspace? workspace = null)
    {
        _workspace = workspace;
        if (source.Channels != target.Channels)
            throw new ArgumentException($"source hyperpixels have {source.Channels} channels, target ones {target.Channels}");
        _targets = target.Grid.Count;
        var segments = Segments(source, target);
        // Channels that both sides hold at their own grid's resolution (a prefix of both first groups): one GEMM.
        int direct = _finestChannels = segments[0].Channels;
        segments[0].SourceMap.Dispose();
        segments[0].TargetMap.Dispose();
        if (PackedGemm.IsSupported)
        {
            // Both sides' finest hyperpixels read where they lie in group 0's map: the source's packed per row range
            // (Cosines), the target's here.
            _sourceMap = Contiguous(source.Groups[0]);
            _finestSourceVectors = WindowVectors(_sourceMap, source.Grid);
            using var targetMap = Contiguous(target.Groups[0]);
            _packedFinestTarget = PackedGemm.Pack(WindowVectors(targetMap, target.Grid), direct, _targets);
        }
        else
        {
            using var scope = NewDisposeScope();
            _finestSource = source.FinestChannels(direct).t().contiguous().MoveToOuterDisposeScope();
            _finestTargetT = target.FinestChannels(direct).contiguous().MoveToOuterDisposeScope();
        }
        _coarse = segments.Skip(1).Select(segment =>
        {
            var (gs, gt) = (segment.SourceMap, segment.TargetMap);
            int lowWidth = (int)gs.shape[2];
            var (index, weight) = BilinearBlend.Corners(source.Grid, (int)gs.shape[1], lowWidth);
            var axes = TargetAxes.Of(target.Grid, (int)gt.shape[1], (int)gt.shape[2]);
            var cells = gs.reshape(segment.Channels, -1);
            gs.Dispose();   // the view's handle; the cells view keeps the storage
            if (PackedGemm.TorchBlockLength(segment.Channels) is not int blockLength) return new CoarseGroup(cells, lowWidth, gt, index, weight, axes);
            var held = Contiguous(cells);
            cells.Dispose();
            using var targetCellsView = gt.reshape(segment.Channels, -1);
            using var targetRows = Contiguous(targetCellsView);
            int targetCells = (int)targetRows.shape[1];
            return new CoarseGroup(held, lowWidth, gt, index, weight, axes)
            {
                PackedTarget = new BlockedPanels(StridedVectors.Columns(TensorMemory.Floats(targetRows), targetCells), segment.Channels, targetCells, blockLength),
                RingLowRows = MostLowRowsOfSubBlock(index, lowWidth, source.Grid),
            };
        }).ToArray();
        _inverseSourceNorms = InverseNorms(source.SquaredNorms);
        _inverseTargetNorms = InverseNorms(target.SquaredNorms);
    }

    /// <summary>A contiguous handle of a tensor's values: an alias when they already are (disposing it frees nothing else).</summary>
    private static Tensor Contiguous(Tensor t) => t.is_contiguous() ? t.alias() : t.contiguous();

    /// <summary>The kept hyperpixels of a grid-resolution map [C, FullHeight, FullWidth] (contiguous), read in place.</summary>
    private static StridedVectors WindowVectors(Tensor map, HyperpixelGrid grid) =>
        StridedVectors.Window(TensorMemory.Floats(map) + (long)grid.Y0 * map.shape[2] + grid.X0, (int)map.shape[1], (int)map.shape[2], grid.Width);

    /// <summary>A channel range that lies in one group on each side: the two maps (views of the groups).</summary>
    private readonly record struct Segment(int Channels, Tensor SourceMap, Tensor TargetMap);

    /// <summary>
    /// Splits the channels where either side starts a new group. With both grids on the same layer the segments are
    /// the groups; with grids of different strides (a finer layer resampled onto one side's grid) a group of one side
    /// spans several of the other's. Segment 0 is at grid resolution on both sides.
    /// </summary>
    private static List<Segment> Segments(HyperpixelSet source, HyperpixelSet target)
    {
        var segments = new List<Segment>();
        int a = 0, b = 0, startA = 0, startB = 0, channel = 0;
        while (a < source.Groups.Count && b < target.Groups.Count)
        {
            int endA = startA + (int)source.Groups[a].shape[0], endB = startB + (int)target.Groups[b].shape[0];
            int end = Math.Min(endA, endB);
            segments.Add(new Segment(end - channel,
                source.Groups[a][(channel - startA)..(end - startA)], target.Groups[b][(channel - startB)..(end - startB)]));
            channel = end;
            if (end == endA) { startA = endA; a++; }
            if (end == endB) { startB = endB; b++; }
        }
        return segments;
    }

    /// <summary>Source rows a worker takes at a time: its coarse rows cover one sub-block, its finest rows are packed per sub-block.</summary>
    private const int SubBlockRows = 96;   // a multiple of Cosines' row chunk

    /// <summary>Floats of coarse-group rows the last <see cref="Cosines"/> held (what tiling and the rings bound).</summary>
    internal long HeldCoarseFloats { get; private set; }

    /// <summary>
    /// The most low rows of cells that any <see cref="SubBlockRows"/> consecutive source hyperpixels blend: such a run
    /// spans at most (SubBlockRows - 1) / width + 2 rows of the source window.
    /// </summary>
    private static int MostLowRowsOfSubBlock(int[] index, int lowWidth, HyperpixelGrid source)
    {
        var first = Enumerable.Repeat(int.MaxValue, source.Height).ToArray();
        var last = new int[source.Height];
        for (int k = 0; k < index.Length; k++)
        {
            int y = k / 4 / source.Width, row = index[k] / lowWidth;
            first[y] = Math.Min(first[y], row);
            last[y] = Math.Max(last[y], row);
        }
        int span = (SubBlockRows - 1) / source.Width + 2, most = 0;
        for (int y = 0; y < source.Height; y++) most = Math.Max(most, last[Math.Min(y + span - 1, source.Height - 1)] - first[y] + 1);
        return most;
    }

    /// <summary>Makes an unpacked group's rows cover every low cell that source hyperpixels [from, to) blend.</summary>
    private void EnsureRows(CoarseGroup group, int from, int to)
    {
        var (low, high) = group.Cells(from, to);
        if (group.Rows is not null && group.RowsFrom <= low && high <= group.RowsTo) return;
        group.Rows?.Dispose();
        var rows = _workspace?.Rows(Array.IndexOf(_coarse, group), high - low, _targets) ?? empty(high - low, _targets);
        using (NewDisposeScope())   // frees the Gram matrix and views now, not when the caller's scope ends
        {
            var gt = group.Target;
            var gram = group.SourceCells[.., low..high].t().mm(gt.reshape(gt.shape[0], -1)).contiguous();
            nint grams = (nint)TensorMemory.Floats(gram), output = (nint)TensorMemory.Floats(rows);
            int lowCount = group.Axes.LowHeight * group.Axes.LowWidth;
            RowRanges.For(high - low, 16, (_, a, b) =>
                BlendCells(group, low + a, low + b, (float*)grams + (long)a * lowCount, (float*)output + (long)a * _targets));
        }
        group.Rows = rows;   // [high-low, M]
        group.RowsFrom = low;
        group.RowsTo = high;
    }

    /// <summary>
    /// Cells [<paramref name="lowCell"/>, <paramref name="highCell"/>)'s rows of a group's Gram matrix [hs*ws, ht*wt]
    /// bilinearly upsampled at the kept target hyperpixels, written into <paramref name="output"/> [highCell - lowCell, M]
    /// on the calling thread. The Gram rows come from <paramref name="gram"/> ([highCell - lowCell, ht*wt]) when given,
    /// else they are computed a few at a time with the packed kernels (summed over the channels in libtorch's blocks:
    /// <see cref="BlockedPanels"/>) and blended while in cache. Separable, in the order of the upsampling operator: along x into a scratch
    /// (gathered 8 columns at a time where the CPU has AVX2), then along y over whole window rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BlendCells(CoarseGroup group, int lowCell, int highCell, float* gram, float* output)
    {
        const int GramChunk = 24;   // a multiple of the GEMM kernels' 6 and 12 rows
        var axes = group.Axes;
        int lowWidth = axes.LowWidth, lowCount = axes.LowHeight * lowWidth, channels = (int)group.Target.shape[0];
        int w = axes.Width, h = axes.Height, m = w * h, firstLowRow = axes.FirstLowRow, lastLowRow = axes.LastLowRow;
        var alongX = ArrayPool<float>.Shared.Rent(axes.LowHeight * w);
        var computed = gram is null ? ArrayPool<float>.Shared.Rent(GramChunk * lowCount) : null;
        var packedRows = gram is null ? ArrayPool<float>.Shared.Rent(GramChunk * group.PackedTarget!.BlockLength) : null;
        var partial = group.PackedTarget?.BlockLength < channels ? ArrayPool<float>.Shared.Rent(GramChunk * lowCount) : null;
        // Without a Gram matrix the low cells are read in place (contiguous where the packed kernels run).
        var cells = gram is null ? StridedVectors.Columns(TensorMemory.Floats(group.SourceCells), (int)group.SourceCells.shape[1]) : default;
        fixed (float* scratch = alongX, wa = axes.LowWeight, wb = axes.HighWeight, chunk = computed, cellRows = packedRows, blockSums = partial)
        fixed (int* x0s = axes.Low, x1s = axes.High)
        {
            for (int a0 = lowCell; a0 < highCell; a0 += GramChunk)
            {
                int a1 = Math.Min(a0 + GramChunk, highCell);
                float* grams = gram + (long)(a0 - lowCell) * lowCount;
                if (chunk is not null)
                {
                    group.PackedTarget!.Multiply(cells, a0, a1 - a0, 0, lowCount, chunk, lowCount, cellRows, blockSums);
                    grams = chunk;
                }
                for (int a = a0; a < a1; a++)
                {
                    float* source = grams + (long)(a - a0) * lowCount, destination = output + (long)(a - lowCell) * m;
                    for (int yl = firstLowRow; yl <= lastLowRow; yl++)
                    {
                        float* lowRow = source + yl * lowWidth, blended = scratch + yl * w;
                        int xt = 0;
                        if (Avx2.IsSupported)
                            for (; xt <= w - 8; xt += 8)
                            {
                                var left = Avx2.GatherVector256(lowRow, Avx.LoadVector256(x0s + xt), sizeof(float));
                                var right = Avx2.GatherVector256(lowRow, Avx.LoadVector256(x1s + xt), sizeof(float));
                                Avx.Store(blended + xt, Avx.Add(Avx.Multiply(Avx.LoadVector256(wa + xt), left),
                                    Avx.Multiply(Avx.LoadVector256(wb + xt), right)));
                            }
                        for (; xt < w; xt++) blended[xt] = wa[xt] * lowRow[x0s[xt]] + wb[xt] * lowRow[x1s[xt]];
                    }
                    for (int yt = 0; yt < h; yt++)
                    {
                        var (y0, y1, ly) = axes.Rows[yt];
                        VectorOps.Blend(destination + (long)yt * w, scratch + y0 * w, 1 - ly, scratch + y1 * w, ly, w);
                    }
                }
            }
        }
        ArrayPool<float>.Shared.Return(alongX);
        if (computed is not null) ArrayPool<float>.Shared.Return(computed);
        if (packedRows is not null) ArrayPool<float>.Shared.Return(packedRows);
        if (partial is not null) ArrayPool<float>.Shared.Return(partial);
    }

    /// <summary>
    /// One worker's rows of a packed coarse group: whole low rows of source cells, each cell's dot products with every
    /// target hyperpixel, low row L in slot L mod capacity. Computed as the worker's sub-blocks advance (their low rows
    /// never go back), so each is computed once per worker and read while still in cache, not stored for the whole
    /// block and read back from memory.
    /// </summary>
    private sealed class RowRing(CoarseGroup group, float* buffer, int capacity, int targets)
    {
        private int _from, _to;   // the low rows held: [_from, _to)

        /// <summary>Makes the ring hold low rows [first, last], computing those it lacks.</summary>
        public void Cover(int first, int last)
        {
            if (last - first >= capacity || first < _from)
                throw new InvalidOperationException($"low rows [{first}, {last}] do not fit a ring of {capacity} holding [{_from}, {_to})");
            if (first >= _to) _from = _to = first;
            int lowWidth = group.SourceLowWidth;
            for (; _to <= last; _to++) BlendCells(group, _to * lowWidth, (_to + 1) * lowWidth, null, buffer + (long)(_to % capacity) * lowWidth * targets);
            _from = Math.Max(_from, _to - capacity);
        }

        /// <summary>Where a held cell's row lies.</summary>
        public float* Row(int cell)
        {
            int lowWidth = group.SourceLowWidth;
            return buffer + ((long)(cell / lowWidth % capacity) * lowWidth + cell % lowWidth) * targets;
        }
    }

    private static float[] InverseNorms(Tensor squared) =>
        squared.cpu().data<float>().ToArray().Select(v => 1f / MathF.Max(MathF.Sqrt(v), 1e-12f)).ToArray();

    /// <summary>
    /// Cosines of source hyperpixels [from, to) with every target hyperpixel, written into <paramref name="block"/>
    /// ([to - from, M] float32, contiguous; a new tensor when null) and returned. <paramref name="observer"/>, when
    /// given, sees every finished tile while it is in cache (and is completed before this returns).
    /// </summary>
    public Tensor Cosines(int from, int to, Tensor? block = null, CosineTileObserver? observer = null)
    {
        if (from < 0 || to > _inverseSourceNorms.Length || from > to)
            throw new ArgumentOutOfRangeException(nameof(from), $"source range [{from}, {to}) outside [0, {_inverseSourceNorms.Length})");
        block ??= empty(to - from, _targets);
        if (block.shape[0] != to - from || block.shape[1] != _targets || !block.is_contiguous())
            throw new ArgumentException($"block must be a contiguous [{to - from}, {_targets}] tensor");
        if (to <= from) return block;
        // The finest group's dot products: tile by tile below when the packed kernel runs, else one GEMM here.
        if (_packedFinestTarget is null) block.addmm_(_finestSource![from..to], _finestTargetT!, beta: 0, alpha: 1);
        foreach (var group in _coarse.Where(g => g.PackedTarget is null)) EnsureRows(group, from, to);
        int grain = observer?.RowGrain ?? 32, workers = RowRanges.Workers(to - from, grain);
        // Each worker's rings, allocated here (the workspace is not thread-safe): a few low rows of each packed group.
        using var scope = NewDisposeScope();
        var rings = new RowRing?[workers, _coarse.Length];
        long ringFloats = 0;
        for (int w = 0; w < workers; w++)
            for (int g = 0; g < _coarse.Length; g++)
            {
                var group = _coarse[g];
                if (group.PackedTarget is null) continue;
                long floats = (long)group.RingLowRows * group.SourceLowWidth * _targets;
                var buffer = _workspace?.Ring(w, g, floats) ?? empty(floats);
                rings[w, g] = new RowRing(group, TensorMemory.Floats(buffer), group.RingLowRows, _targets);
                ringFloats += floats;
            }
        HeldCoarseFloats = ringFloats + _coarse.Sum(c => c.Rows?.numel() ?? 0);
        var sharedRows = _coarse.Select(c => c.Rows is null ? 0 : (nint)TensorMemory.Floats(c.Rows)).ToArray();
        nint b = (nint)TensorMemory.Floats(block);
        int channels = _finestChannels;
        int m = _targets, taps = 4 * _coarse.Length;
        // Column tiles keep the few low-resolution rows that neighbouring hyperpixels share in cache, and each tile of
        // finest-group products is finished while it is still there; all taps of a row (4 cells per coarse group) are
        // summed in one pass over the tile.
        const int Tile = 64 * PackedGemm.PanelWidth, RowChunk = 24;   // RowChunk: a multiple of the GEMM kernels' 6 and 12 rows
        RowRanges.For(to - from, grain, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (worker, firstRow, lastRow) =>
        {
            // Per sub-block: the coarse rows its rows blend (computed into the rings), its finest source rows packed once
            // for all column tiles (chunks start at multiples of 12 in it), and its rows' taps, gathered once too.
            var sourceRows = _packedFinestTarget is null ? null : ArrayPool<float>.Shared.Rent(SubBlockRows * channels);
            // Pooled: fresh arrays of this size per pair would be collected only with generation 2.
            var tapRows = ArrayPool<nint>.Shared.Rent(SubBlockRows * taps);
            var tapWeights = ArrayPool<float>.Shared.Rent(SubBlockRows * taps);
            var tapCounts = ArrayPool<int>.Shared.Rent(SubBlockRows);
            fixed (float* packedSource = sourceRows)
            fixed (float* inverseTarget = _inverseTargetNorms)
            fixed (float* packed = _packedFinestTarget)
            fixed (nint* rowsOfTaps = tapRows)
            fixed (float* weights = tapWeights)
            {
                for (int s0 = from + firstRow; s0 < from + lastRow; s0 += SubBlockRows)
                {
                    int s1 = Math.Min(s0 + SubBlockRows, from + lastRow);
                    for (int g = 0; g < _coarse.Length; g++)
                        if (rings[worker, g] is { } ring)
                        {
                            var (first, last) = _coarse[g].LowRows(s0, s1);
                            ring.Cover(first, last);
                        }
                    if (packedSource is not null) PackedGemm.PackRows(_finestSourceVectors, s0, s1 - s0, channels, packedSource);
                    for (int i = s0; i < s1; i++)
                        tapCounts[i - s0] = GatherTaps(i, rings, worker, sharedRows, rowsOfTaps + (long)(i - s0) * taps, weights + (long)(i - s0) * taps);
                    for (int j0 = 0; j0 < m; j0 += Tile)
                    {
                        int width = Math.Min(Tile, m - j0);
                        for (int i0 = s0; i0 < s1; i0 += RowChunk)
                        {
                            int i1 = Math.Min(i0 + RowChunk, s1);
                            if (packed is not null)
                                PackedGemm.Multiply(packedSource + (long)(i0 - s0) * channels, i1 - i0, channels, packed, j0, width,
                                    (float*)b + (long)(i0 - from) * m + j0, m);
                            for (int i = i0; i < i1; i++)
                                VectorOps.AddRowsAndScale((float*)b + (long)(i - from) * m + j0, (float**)rowsOfTaps + (long)(i - s0) * taps, j0,
                                    weights + (long)(i - s0) * taps, tapCounts[i - s0], inverseTarget + j0, _inverseSourceNorms[i], width);
                            observer?.Observe(worker, (float*)b + (long)(i0 - from) * m + j0, m, i0, i1 - i0, j0, width);
                        }
                    }
                }
            }
            if (sourceRows is not null) ArrayPool<float>.Shared.Return(sourceRows);
            ArrayPool<nint>.Shared.Return(tapRows);
            ArrayPool<float>.Shared.Return(tapWeights);
            ArrayPool<int>.Shared.Return(tapCounts);
        });
        observer?.Complete();
        return block;
    }

    /// <summary>
    /// The coarse-group rows (in the worker's rings, or an unpacked group's shared rows) and weights that source
    /// hyperpixel <paramref name="i"/> blends, skipping zero weights; returns how many.
    /// </summary>
    private int GatherTaps(int i, RowRing?[,] rings, int worker, nint[] sharedRows, nint* tapRows, float* tapWeights)
    {
        int count = 0;
        for (int g = 0; g < _coarse.Length; g++)
        {
            var group = _coarse[g];
            var ring = rings[worker, g];
            for (int k = 0; k < 4; k++)
            {
                float weight = group.Weight[4 * i + k];
                if (weight == 0) continue;
                int cell = group.Index[4 * i + k];
                tapRows[count] = (nint)(ring is not null ? ring.Row(cell) : (float*)sharedRows[g] + (long)(cell - group.RowsFrom) * _targets);
                tapWeights[count++] = weight;
            }
        }
        return count;
    }

    public void Dispose()
    {
        if (_disposed) return;   // a second return of the pooled arrays would hand them out twice
        _disposed = true;
        _finestSource?.Dispose();
        _finestTargetT?.Dispose();
        _sourceMap?.Dispose();
        if (_packedFinestTarget is not null) ArrayPool<float>.Shared.Return(_packedFinestTarget);
        foreach (var group in _coarse)
        {
            group.SourceCells.Dispose();
            group.Target.Dispose();
            group.PackedTarget?.Dispose();
            group.Rows?.Dispose();
        }
    }
}
