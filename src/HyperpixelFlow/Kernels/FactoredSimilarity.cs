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
    private readonly HyperpixelGrid _targetGrid;
    private readonly int _targets;
    private readonly float[]? _packedFinestTarget;   // PackedGemm panels of the finest target group, where supported
    private readonly SimilarityWorkspace? _workspace;   // buffers for the coarse groups' rows, reused across pairs
    private bool _disposed;

    /// <summary>
    /// A coarse segment: its low-resolution source cells [C, hs*ws] and target map [C, ht*wt], per source hyperpixel
    /// the 4 cells it blends with their weights, and the dot products of the low cells [RowsFrom, RowsTo) with every
    /// target hyperpixel [RowsTo - RowsFrom, M], computed for the source rows asked for last. Holding only those rows
    /// keeps memory proportional to a block of source hyperpixels, not to N x M. Where <see cref="PackedGemm"/> gives
    /// libtorch's bits for C channels, the cells are also read as vectors in place and the target map packed, and the
    /// Gram matrix's rows come from it (libtorch's GEMM runs these small-k shapes far below the cores' rate).
    /// </summary>
    private sealed class CoarseGroup(Tensor sourceCells, Tensor target, int[] index, float[] weight)
    {
        public Tensor SourceCells { get; } = sourceCells;
        public Tensor Target { get; } = target;
        public int[] Index { get; } = index;
        public float[] Weight { get; } = weight;
        public float[]? PackedTarget { get; init; }
        public Tensor? Rows { get; set; }
        public int RowsFrom { get; set; }
        public int RowsTo { get; set; }
    }

    /// <summary>The similarity of two hyperpixel sets; <paramref name="workspace"/>, when given, holds the coarse groups'
    /// rows in buffers reused from pair to pair (fresh ones cost page faults on every touch).</summary>
    public FactoredSimilarity(HyperpixelSet source, HyperpixelSet target, SimilarityWorkspace? workspace = null)
    {
        _workspace = workspace;
        if (source.Channels != target.Channels)
            throw new ArgumentException($"source hyperpixels have {source.Channels} channels, target ones {target.Channels}");
        _targetGrid = target.Grid;
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
            var (index, weight) = BilinearBlend.Corners(source.Grid, (int)gs.shape[1], (int)gs.shape[2]);
            var cells = gs.reshape(segment.Channels, -1);
            gs.Dispose();   // the view's handle; the cells view keeps the storage
            if (!PackedGemm.GivesTorchBits(segment.Channels)) return new CoarseGroup(cells, gt, index, weight);
            var held = Contiguous(cells);
            cells.Dispose();
            using var targetCellsView = gt.reshape(segment.Channels, -1);
            using var targetRows = Contiguous(targetCellsView);
            int targetCells = (int)targetRows.shape[1];
            return new CoarseGroup(held, gt, index, weight)
            {
                PackedTarget = PackedGemm.Pack(StridedVectors.Columns(TensorMemory.Floats(targetRows), targetCells), segment.Channels, targetCells),
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

    /// <summary>Floats held in coarse-group rows now (what tiling bounds).</summary>
    internal long HeldCoarseFloats => _coarse.Sum(c => c.Rows?.numel() ?? 0);

    /// <summary>Makes the group's rows cover every low cell that source hyperpixels [from, to) blend.</summary>
    private void EnsureRows(CoarseGroup group, int from, int to)
    {
        int low = int.MaxValue, high = int.MinValue;
        for (int k = 4 * from; k < 4 * to; k++)
        {
            low = Math.Min(low, group.Index[k]);
            high = Math.Max(high, group.Index[k] + 1);
        }
        if (group.Rows is not null && group.RowsFrom <= low && high <= group.RowsTo) return;
        group.Rows?.Dispose();
        var rows = _workspace?.Rows(Array.IndexOf(_coarse, group), high - low, _targets) ?? empty(high - low, _targets);
        if (group.PackedTarget is not null) BlendColumns(group, low, high, null, _targetGrid, rows);
        else
        {
            using var scope = NewDisposeScope();   // frees the Gram matrix and views now, not when the caller's scope ends
            var gt = group.Target;
            var gram = group.SourceCells[.., low..high].t().mm(gt.reshape(gt.shape[0], -1)).contiguous();
            BlendColumns(group, low, high, gram, _targetGrid, rows);
        }
        group.Rows = rows;   // [high-low, M]
        group.RowsFrom = low;
        group.RowsTo = high;
    }

    /// <summary>
    /// Rows [<paramref name="lowCell"/>, <paramref name="highCell"/>) of a group's Gram matrix [hs*ws, ht*wt] bilinearly
    /// upsampled at the kept target hyperpixels, written into <paramref name="rows"/> [highCell - lowCell, M]. The Gram
    /// rows come from <paramref name="gram"/> ([highCell - lowCell, ht*wt]) when given, else they are computed a few at
    /// a time with <see cref="PackedGemm"/> (each element summed over the channels in order) and blended while in cache.
    /// Separable, in the order of the upsampling operator: along x into a per-row scratch (gathered 8 columns at a time
    /// where the CPU has AVX2), then along y over whole window rows.
    /// </summary>
    private static void BlendColumns(CoarseGroup group, int lowCell, int highCell, Tensor? gram, HyperpixelGrid target, Tensor rows)
    {
        const int GramChunk = 24;   // a multiple of the GEMM kernels' 6 and 12 rows
        int lowHeight = (int)group.Target.shape[1], lowWidth = (int)group.Target.shape[2], channels = (int)group.Target.shape[0];
        var xs = BilinearBlend.Axis(target.FullWidth, lowWidth);
        var ys = BilinearBlend.Axis(target.FullHeight, lowHeight);
        int n = highCell - lowCell, lowCount = lowHeight * lowWidth, w = target.Width, h = target.Height, m = target.Count;
        int firstLowRow = ys[target.Y0].Low, lastLowRow = ys[target.Y0 + h - 1].High;
        // The x step's taps and weights per target column, the weights as the scalar form computes them.
        var low = new int[w];
        var high = new int[w];
        var lowWeight = new float[w];
        var highWeight = new float[w];
        for (int xt = 0; xt < w; xt++)
        {
            var (x0, x1, lx) = xs[target.X0 + xt];
            (low[xt], high[xt], lowWeight[xt], highWeight[xt]) = (x0, x1, 1 - lx, lx);
        }
        nint input = gram is null ? 0 : (nint)TensorMemory.Floats(gram), output = (nint)TensorMemory.Floats(rows);
        // Without a Gram matrix the low cells are read in place (contiguous where the packed kernels run).
        var cells = gram is null ? StridedVectors.Columns(TensorMemory.Floats(group.SourceCells), (int)group.SourceCells.shape[1]) : default;
        RowRanges.For(n, 16, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (_, from, to) =>
        {
            var alongX = new float[lowHeight * w];
            var computed = gram is null ? ArrayPool<float>.Shared.Rent(GramChunk * lowCount) : null;
            var packedRows = gram is null ? ArrayPool<float>.Shared.Rent(GramChunk * channels) : null;
            fixed (float* scratch = alongX, wa = lowWeight, wb = highWeight, chunk = computed, packed = group.PackedTarget, cellRows = packedRows)
            fixed (int* x0s = low, x1s = high)
            {
                for (int a0 = from; a0 < to; a0 += GramChunk)
                {
                    int a1 = Math.Min(a0 + GramChunk, to);
                    float* grams = (float*)input + (long)a0 * lowCount;
                    if (chunk is not null)
                    {
                        PackedGemm.PackRows(cells, lowCell + a0, a1 - a0, channels, cellRows);
                        PackedGemm.Multiply(cellRows, a1 - a0, channels, packed, 0, lowCount, chunk, lowCount);
                        grams = chunk;
                    }
                    for (int a = a0; a < a1; a++)
                    {
                        float* source = grams + (long)(a - a0) * lowCount, destination = (float*)output + (long)a * m;
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
                            var (y0, y1, ly) = ys[target.Y0 + yt];
                            VectorOps.Blend(destination + (long)yt * w, scratch + y0 * w, 1 - ly, scratch + y1 * w, ly, w);
                        }
                    }
                }
            }
            if (computed is not null) ArrayPool<float>.Shared.Return(computed);
            if (packedRows is not null) ArrayPool<float>.Shared.Return(packedRows);
        });
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
        foreach (var group in _coarse) EnsureRows(group, from, to);
        nint b = (nint)TensorMemory.Floats(block);
        int channels = _finestChannels;
        int m = _targets, taps = 4 * _coarse.Length;
        var rowsPointers = _coarse.Select(c => (nint)TensorMemory.Floats(c.Rows!)).ToArray();
        // Column tiles keep the few low-resolution rows that neighbouring hyperpixels share in cache, and each tile of
        // finest-group products is finished while it is still there; all taps of a row (4 cells per coarse group) are
        // summed in one pass over the tile.
        const int Tile = 64 * PackedGemm.PanelWidth, RowChunk = 24;   // RowChunk: a multiple of the GEMM kernels' 6 and 12 rows
        RowRanges.For(to - from, observer?.RowGrain ?? 32, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (worker, firstRow, lastRow) =>
        {
            // This range's finest source rows, packed once for all its column tiles (chunks start at multiples of 12 in it),
            // and its rows' taps, gathered once too.
            int first = from + firstRow, rangeRows = lastRow - firstRow;
            var sourceRows = _packedFinestTarget is null ? null : ArrayPool<float>.Shared.Rent(rangeRows * channels);
            // Pooled: fresh arrays of this size per pair would be large objects, collected only with generation 2.
            var tapRows = ArrayPool<nint>.Shared.Rent(rangeRows * taps);
            var tapWeights = ArrayPool<float>.Shared.Rent(rangeRows * taps);
            var tapCounts = ArrayPool<int>.Shared.Rent(rangeRows);
            fixed (float* packedSource = sourceRows)
            fixed (float* inverseTarget = _inverseTargetNorms)
            fixed (float* packed = _packedFinestTarget)
            fixed (nint* rowsOfTaps = tapRows)
            fixed (float* weights = tapWeights)
            {
                if (packedSource is not null) PackedGemm.PackRows(_finestSourceVectors, first, rangeRows, channels, packedSource);
                for (int r = 0; r < rangeRows; r++)
                    tapCounts[r] = GatherTaps(first + r, rowsPointers, rowsOfTaps + (long)r * taps, weights + (long)r * taps);
                for (int j0 = 0; j0 < m; j0 += Tile)
                {
                    int width = Math.Min(Tile, m - j0);
                    for (int i0 = first; i0 < first + rangeRows; i0 += RowChunk)
                    {
                        int i1 = Math.Min(i0 + RowChunk, first + rangeRows);
                        if (packed is not null)
                            PackedGemm.Multiply(packedSource + (long)(i0 - first) * channels, i1 - i0, channels, packed, j0, width,
                                (float*)b + (long)(i0 - from) * m + j0, m);
                        for (int i = i0; i < i1; i++)
                            VectorOps.AddRowsAndScale((float*)b + (long)(i - from) * m + j0, (float**)rowsOfTaps + (long)(i - first) * taps, j0,
                                weights + (long)(i - first) * taps, tapCounts[i - first], inverseTarget + j0, _inverseSourceNorms[i], width);
                        observer?.Observe(worker, (float*)b + (long)(i0 - from) * m + j0, m, i0, i1 - i0, j0, width);
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
    /// The coarse-group rows and weights that source hyperpixel <paramref name="i"/> blends, skipping zero weights;
    /// returns how many.
    /// </summary>
    private int GatherTaps(int i, nint[] rowsPointers, nint* tapRows, float* tapWeights)
    {
        int count = 0;
        for (int g = 0; g < _coarse.Length; g++)
            for (int k = 0; k < 4; k++)
            {
                float weight = _coarse[g].Weight[4 * i + k];
                if (weight == 0) continue;
                tapRows[count] = (nint)((float*)rowsPointers[g] + (long)(_coarse[g].Index[4 * i + k] - _coarse[g].RowsFrom) * _targets);
                tapWeights[count++] = weight;
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
            if (group.PackedTarget is not null) ArrayPool<float>.Shared.Return(group.PackedTarget);
            group.Rows?.Dispose();
        }
    }
}
