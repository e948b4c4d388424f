using HyperpixelFlow.Reference;
using HyperpixelFlow.Kernels;
using HyperpixelFlow.Hyperpixels;
using HyperpixelFlow.Matching;
using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Tests;

public class MatchingTests
{
    private static HyperpixelSet Set(Tensor features, int w, int h, int jump = 4, int field = 11, int x0 = 0, int y0 = 0, int fullW = 0, int fullH = 0) =>
        HyperpixelSet.FromDense(features, new HyperpixelGrid(jump, field, fullW == 0 ? w + x0 : fullW, fullH == 0 ? h + y0 : fullH, x0, y0, w, h),
            (w + x0) * jump, (h + y0) * jump);

    /// <summary>
    /// Source and target sets with a stride-4 group and groups at 1/2 and 1/4 of its resolution (8, 6, 5 channels;
    /// source window offset by one cell), their maps drawn by <paramref name="map"/>(channels, height, width).
    /// </summary>
    private static (HyperpixelSet Source, HyperpixelSet Target) ThreeLevelSets(Func<long, long, long, Tensor> map) =>
        (ThreeLevelSource(map),
         new HyperpixelSet([map(8, 16, 20), map(6, 8, 10), map(5, 4, 5)], new HyperpixelGrid(4, 11, 20, 16, 0, 0, 20, 16), 80, 64));

    private static HyperpixelSet ThreeLevelSource(Func<long, long, long, Tensor> map) =>
        new([map(8, 20, 24), map(6, 10, 12), map(5, 5, 6)], new HyperpixelGrid(4, 11, 24, 20, 1, 1, 22, 18), 96, 80);

    /// <summary>A smooth random field [c, h, w] (cumulative sums), so that best matches are not near-ties; drawn from the test's own generator.</summary>
    private static Tensor Smooth(Generator g, long c, long h, long w) => randn([c, h, w], generator: g).cumsum(1).cumsum(2).div(4);

    [Fact]
    public void Kernel_precompilation_covers_the_aggressively_optimised_kernels_and_only_them()
    {
        var kernels = typeof(FusedHoughKernel).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(System.Reflection.BindingFlags.DeclaredOnly | System.Reflection.BindingFlags.Instance |
                System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic))
            .Where(m => (m.MethodImplementationFlags & System.Reflection.MethodImplAttributes.AggressiveOptimization) != 0)
            .ToList();
        Assert.Contains(kernels, m => m.DeclaringType == typeof(PackedGemm));
        Assert.Contains(kernels, m => m.DeclaringType == typeof(OptimalTransportWeighting));
        Assert.Contains(kernels, m => m.DeclaringType!.DeclaringType == typeof(FusedHoughKernel));   // the parallel loops' bodies
        Assert.Equal(kernels.Count, KernelPrecompilation.Run());
    }

    [Fact]
    public void Gaussian_is_normalised_symmetric_and_peaked()
    {
        using var g = RegularizedHoughMatching.GaussianKernel(7);
        Assert.Equal(1.0, g.sum().ToDouble(), 5);
        Assert.Equal(g[0, 0].ToDouble(), g[6, 6].ToDouble(), 7);
        Assert.Equal(g[1, 3].ToDouble(), g[3, 1].ToDouble(), 7);
        Assert.Equal(g.max().ToDouble(), g[3, 3].ToDouble());
        // sigma = 7 / 2 / 2.354: neighbour / centre = exp(-1 / (2 sigma^2))
        double sigma = 7 / 2.0 / 2.354;
        Assert.Equal(Math.Exp(-1 / (2 * sigma * sigma)), g[3, 4].ToDouble() / g[3, 3].ToDouble(), 5);
    }

    [Fact]
    public void Similarity_is_clamped_cosine_cubed()
    {
        using var s = tensor(new float[] { 1, 0, 0, 1, 1, 1 }, [3, 2]);
        using var t = tensor(new float[] { 1, 0, -1, 0 }, [2, 2]);
        using var sim = RegularizedHoughMatching.Similarity(s, t, 3);
        Assert.Equal(1.0, sim[0, 0].ToDouble(), 6);
        Assert.Equal(0.0, sim[0, 1].ToDouble(), 6);   // cosine -1 clamped
        Assert.Equal(0.0, sim[1, 0].ToDouble(), 6);
        Assert.Equal(Math.Pow(Math.Sqrt(0.5), 3), sim[2, 0].ToDouble(), 5);
    }

    [Fact]
    public void Diagonal_sums_group_entries_by_column_minus_row()
    {
        using var a = arange(12, dtype: ScalarType.Float32).reshape(1, 3, 4);   // rows [0..3], [4..7], [8..11]
        using var d = RegularizedHoughMatching.DiagonalSums(a);
        // k = j - i + 2: k=0 -> (2,0)=8; k=1 -> (1,0)+(2,1)=4+9; k=2 -> 0+5+10; k=3 -> 1+6+11; k=4 -> 2+7; k=5 -> 3
        Assert.Equal(new float[] { 8, 13, 15, 18, 9, 3 }, d[0].data<float>().ToArray());
    }

    [Fact]
    public void Offset_voting_equals_the_pairwise_formulation()
    {
        using var g = new Generator(7);
        using var sf = randn([5 * 6, 16], generator: g);
        using var tf = randn([4 * 7, 16], generator: g);
        using var s = Set(sf.clone(), 6, 5, x0: 2, y0: 1, fullW: 10, fullH: 8);
        using var t = Set(tf.clone(), 7, 4, x0: 1, y0: 3, fullW: 9, fullH: 9);
        var space = HoughSpace.For(s.ImageWidth, s.ImageHeight, t.ImageWidth, t.ImageHeight, 200);
        using var gaussian = RegularizedHoughMatching.GaussianKernel(7);
        using var sim = RegularizedHoughMatching.Similarity(s.Dense(), t.Dense(), 3);
        using var fast = RegularizedHoughMatching.Confidence(sim, s, t, space, gaussian);
        using var reference = PairwiseHoughMatching.Confidence(sim, s, t, space, gaussian);
        Assert.True(allclose(fast, reference, rtol: 1e-5, atol: 1e-7), $"max difference {(fast - reference).abs().max().ToDouble()}");
    }

    [Fact]
    public void A_pure_translation_votes_into_one_offset_and_every_source_finds_its_shifted_twin()
    {
        // Target = source moved by (2, 1) grid cells: distinct one-hot features make only the true pairs similar.
        int w = 6, h = 5;
        var src = zeros(w * h, w * h);
        var trg = zeros((w + 2) * (h + 1), w * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                src[y * w + x, y * w + x] = 1;
                trg[(y + 1) * (w + 2) + x + 2, y * w + x] = 1;
            }
        using var s = Set(src, w, h);
        using var t = Set(trg, w + 2, h + 1);
        using var sim = RegularizedHoughMatching.Similarity(s.Dense(), t.Dense(), 3);
        using var votes = RegularizedHoughMatching.OffsetVotes(sim, s.Grid, t.Grid);
        Assert.Equal(w * h, votes.sum().ToDouble(), 4);
        Assert.Equal(w * h, votes[1 + h - 1, 2 + w - 1].ToDouble(), 4);   // offset (dy, dx) = (1, 2)

        var space = HoughSpace.For(s.ImageWidth, s.ImageHeight, t.ImageWidth, t.ImageHeight, 64);
        using var bins = RegularizedHoughMatching.OffsetBins(space, s, t);
        long expectedBin = space.Bin(s.ImageHeight + 4, space.BinsY) * space.BinsX + space.Bin(s.ImageWidth + 8, space.BinsX);
        Assert.Equal(expectedBin, bins[1 + h - 1, 2 + w - 1].ToInt64());

        using var gaussian = RegularizedHoughMatching.GaussianKernel(7);
        var match = RegularizedHoughMatching.Match(s, t, 64, new PowerWeighting(3), gaussian);
        for (int i = 0; i < w * h; i++)
            Assert.Equal((i / w + 1) * (w + 2) + i % w + 2, match.BestTargetOfSource[i]);
    }

    [Fact]
    public void Fused_cpu_kernels_tiled_or_not_equal_the_tensor_formulation()
    {
        using var g = new Generator(11);
        // Smooth random fields so that matches are not ties: features vary slowly over each grid.
        using var s = Set(randn([9 * 11, 32], generator: g).cumsum(0).div(5), 11, 9, x0: 1, y0: 2, fullW: 13, fullH: 12);
        using var t = Set(randn([8 * 12, 32], generator: g).cumsum(0).div(5), 12, 8, x0: 2, y0: 1, fullW: 15, fullH: 10);
        using var gaussian = RegularizedHoughMatching.GaussianKernel(7);
        var space = HoughSpace.For(s.ImageWidth, s.ImageHeight, t.ImageWidth, t.ImageHeight, 300);
        using var sim = RegularizedHoughMatching.Similarity(s.Dense(), t.Dense(), 3);
        using var confidence = RegularizedHoughMatching.Confidence(sim, s, t, space, gaussian);
        var expectedRows = confidence.argmax(1).data<long>().ToArray();
        var expectedColumns = confidence.argmax(0).data<long>().ToArray();

        var untiled = RegularizedHoughMatching.Match(s, t, 300, new PowerWeighting(3), gaussian);
        var tiled = RegularizedHoughMatching.Match(s, t, 300, new PowerWeighting(3), gaussian, maxBlockBytes: 4 * t.Grid.Count * 7); // 7-row blocks
        Assert.Equal(expectedRows, untiled.BestTargetOfSource);
        Assert.Equal(expectedColumns, untiled.BestSourceOfTarget);
        Assert.Equal(untiled.BestTargetOfSource, tiled.BestTargetOfSource);
        Assert.Equal(untiled.BestSourceOfTarget, tiled.BestSourceOfTarget);
        Assert.Equal(1.0, tiled.ConfidenceSum / untiled.ConfidenceSum, 1e-6);
        Assert.Equal(1.0, untiled.ConfidenceSum / confidence.sum().ToDouble(), 1e-5);
        Assert.Equal(1.0, untiled.SimilaritySum / sim.sum().ToDouble(), 1e-5);
    }

    /// <summary>
    /// The squared norms' bits decide every cosine: each coarse group adds, per hyperpixel, the 16 products
    /// w_k w_l &lt;g(c_k), g(c_l)&gt; of its corners (Corners' order, k then l) to the finest group's sum, the dot
    /// products being the channel sums of the cell products. Here against that sum written from the corner indices,
    /// value for value, on grids whose last cells repeat a corner (the map's edges).
    /// </summary>
    [Fact]
    public void Blended_squared_norms_add_the_corner_products_in_order()
    {
        using var g = new Generator(7);
        var grid = new HyperpixelGrid(4, 11, 15, 12, 1, 2, 13, 9);
        using var scope = NewDisposeScope();
        var groups = new[] { randn([8, 12, 15], generator: g), randn([6, 6, 8], generator: g), randn([5, 3, 4], generator: g) };
        using var set = new HyperpixelSet(groups, grid, 60, 48);
        var expected = set.Window(groups[0]).pow(2).sum(dim: 0).flatten().data<float>().ToArray();
        foreach (var group in groups.Skip(1))
        {
            int h = (int)group.shape[1], w = (int)group.shape[2];
            // Channel sums of the products of neighbouring cells, as libtorch sums them (their bits are its order).
            float[] Sum(Tensor product) => product.sum(dim: 0).contiguous().data<float>().ToArray();
            var self = Sum(group * group);
            var right = Sum(group[.., .., ..^1] * group[.., .., 1..]);
            var down = Sum(group[.., ..^1, ..] * group[.., 1.., ..]);
            var downRight = Sum(group[.., ..^1, ..^1] * group[.., 1.., 1..]);
            var downLeft = Sum(group[.., ..^1, 1..] * group[.., 1.., ..^1]);
            float Dot(int a, int b)
            {
                (a, b) = (Math.Min(a, b), Math.Max(a, b));
                var (ya, xa) = Math.DivRem(a, w);
                var (yb, xb) = Math.DivRem(b, w);
                return a == b ? self[a] : ya == yb ? right[ya * (w - 1) + xa] : xa == xb ? down[ya * w + xa]
                    : xb > xa ? downRight[ya * (w - 1) + xa] : downLeft[ya * (w - 1) + xb];
            }
            var (index, weight) = BilinearBlend.Corners(grid, h, w);
            for (int n = 0; n < grid.Count; n++)
            {
                float sum = 0;
                for (int k = 0; k < 4; k++)
                    for (int l = 0; l < 4; l++)
                        sum += weight[4 * n + k] * weight[4 * n + l] * Dot(index[4 * n + k], index[4 * n + l]);
                expected[n] += sum;
            }
        }
        Assert.Equal(expected, set.SquaredNorms.data<float>().ToArray());
    }

    [Fact]
    public void Factored_similarity_of_multi_resolution_groups_equals_dense_cosines()
    {
        using var g = new Generator(5);
        var sourceGrid = new HyperpixelGrid(4, 11, 15, 12, 1, 2, 13, 9);
        var targetGrid = new HyperpixelGrid(4, 11, 13, 10, 0, 1, 12, 8);
        using var s = new HyperpixelSet([randn([8, 12, 15], generator: g), randn([6, 6, 8], generator: g), randn([5, 3, 4], generator: g)], sourceGrid, 60, 48);
        using var t = new HyperpixelSet([randn([8, 10, 13], generator: g), randn([6, 5, 7], generator: g), randn([5, 3, 4], generator: g)], targetGrid, 52, 40);
        using var dense = RegularizedHoughMatching.Similarity(s.Dense(), t.Dense(), 1);
        using var scope = NewDisposeScope();
        Assert.True(allclose(s.SquaredNorms, s.Dense().pow(2).sum(dim: 1), rtol: 1e-4), "squared norms of blended groups");
        var factored = new FactoredSimilarity(s, t).Cosines(0, sourceGrid.Count).clamp_min(0);
        Assert.True(allclose(factored, dense, rtol: 1e-4, atol: 1e-5), $"max difference {(factored - dense).abs().max().ToDouble()}");
        var partial = new FactoredSimilarity(s, t).Cosines(20, 50).clamp_min(0);
        Assert.True(allclose(partial, dense[20..50], rtol: 1e-4, atol: 1e-5));
    }

    [SkippableFact]
    public unsafe void Packed_gemm_equals_the_tensor_product_on_ragged_tiles_and_the_in_order_fma_sum_bit_for_bit()
    {
        Skip.IfNot(PackedGemm.IsSupported, "this CPU has no AVX2/FMA; the fused path uses the tensor engine's GEMM instead");
        using var g = new Generator(7);
        const int rows = 31, k = 5, m = 37;   // rows: 12, then 19 = 12 + 6 + 1; columns not a multiple of 16 (nor of 32)
        using var a = randn([rows, k], generator: g);
        using var b = randn([k, m], generator: g);
        using var expected = a.mm(b);
        // Packed arrays come from the shared pool: hand it a dirty one first, so that the padding must be cleared.
        int panelFloats = (m + PackedGemm.PanelWidth - 1) / PackedGemm.PanelWidth * k * PackedGemm.PanelWidth;
        var dirty = System.Buffers.ArrayPool<float>.Shared.Rent(panelFloats);
        Array.Fill(dirty, float.NaN);
        System.Buffers.ArrayPool<float>.Shared.Return(dirty);
        var packed = PackedGemm.Pack(StridedVectors.Columns(TensorMemory.Floats(b), m), k, m);
        for (int t = 0; t < k; t++)   // the last panel (columns 32..47) holds 5 columns, then zeros
            for (int j = m % PackedGemm.PanelWidth; j < PackedGemm.PanelWidth; j++)
                Assert.Equal(0f, packed[((m / PackedGemm.PanelWidth) * k + t) * PackedGemm.PanelWidth + j]);
        var c = new float[rows * m];
        fixed (float* pc = c)
        fixed (float* pp = packed)
        {
            // Two column tiles (the second starting at a panel boundary) and two row ranges starting at multiples of 12
            // in rows packed once, as the fused loop calls it.
            fixed (float* pa = new float[rows * k])
            {
                PackedGemm.PackRows(StridedVectors.Rows(TensorMemory.Floats(a), k), 0, rows, k, pa);
                PackedGemm.Multiply(pa, 12, k, pp, 0, 32, pc, m);
                PackedGemm.Multiply(pa, 12, k, pp, 32, m - 32, pc + 32, m);
                PackedGemm.Multiply(pa + 12 * k, rows - 12, k, pp, 0, 32, pc + 12 * m, m);
                PackedGemm.Multiply(pa + 12 * k, rows - 12, k, pp, 32, m - 32, pc + 12 * m + 32, m);
            }
        }
        using var actual = tensor(c, [rows, m]);
        Assert.True(allclose(actual, expected, rtol: 1e-5, atol: 1e-5), $"max difference {(actual - expected).abs().max().ToDouble()}");
        // Whichever micro-kernel computes an element (AVX-512 12 x 32, 12 x 16 and 6 x 32, AVX2 6 x 16, the edge kernel), it is the sum over
        // k in order, one fused multiply-add per step from zero: the results never depend on the CPU's vector width.
        var av = a.data<float>().ToArray();
        var bv = b.data<float>().ToArray();
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < m; j++)
            {
                float sum = 0;
                for (int t = 0; t < k; t++) sum = MathF.FusedMultiplyAdd(av[i * k + t], bv[t * m + j], sum);
                Assert.Equal(BitConverter.SingleToInt32Bits(sum), BitConverter.SingleToInt32Bits(c[i * m + j]));
            }
    }

    /// <summary>
    /// The packers read hyperpixels where they lie in a feature map's window as they read the same values copied out
    /// row-major: window rows of 37 cells (16-column panels and 12-row blocks both within a window row and across its
    /// end), a window of a larger map, row ranges starting anywhere.
    /// </summary>
    [Fact]
    public unsafe void Packers_read_a_maps_window_in_place_as_its_copy()
    {
        using var g = new Generator(9);
        const int k = 5, mapHeight = 9, mapWidth = 41, x0 = 3, y0 = 2, width = 37, height = 6, m = width * height;
        using var map = randn([k, mapHeight, mapWidth], generator: g);
        using var window = map[.., y0..(y0 + height), x0..(x0 + width)];
        using var columns = window.reshape(k, m).contiguous();   // [k, m]: hyperpixel j is column j
        using var rows = columns.t().contiguous();               // [m, k]: hyperpixel i is row i
        var inPlace = StridedVectors.Window(TensorMemory.Floats(map) + y0 * mapWidth + x0, mapHeight, mapWidth, width);
        var panels = PackedGemm.Pack(inPlace, k, m);
        var copied = PackedGemm.Pack(StridedVectors.Columns(TensorMemory.Floats(columns), m), k, m);
        int panelFloats = (m + PackedGemm.PanelWidth - 1) / PackedGemm.PanelWidth * k * PackedGemm.PanelWidth;
        Assert.Equal(copied.AsSpan(0, panelFloats).ToArray(), panels.AsSpan(0, panelFloats).ToArray());
        System.Buffers.ArrayPool<float>.Shared.Return(panels);
        System.Buffers.ArrayPool<float>.Shared.Return(copied);
        foreach (var (first, count) in new[] { (0, m), (29, 40), (101, 13) })
        {
            var (fromMap, fromCopy) = (new float[count * k], new float[count * k]);
            fixed (float* a = fromMap, b = fromCopy)
            {
                PackedGemm.PackRows(inPlace, first, count, k, a);
                PackedGemm.PackRows(StridedVectors.Rows(TensorMemory.Floats(rows), k), first, count, k, b);
            }
            Assert.Equal(fromCopy, fromMap);
        }
    }

    /// <summary>
    /// The coarse groups' Gram matrices take the packed kernels only for channel counts where they give libtorch's
    /// bits: checked here at a similarity's size (the probe uses a small one) for counts that the BLAS here sums in one
    /// chain and in blocks. Wrong either way would fail: equal bits claimed where they differ, or differ where equal.
    /// </summary>
    [SkippableTheory]
    [InlineData(64)]
    [InlineData(128)]
    [InlineData(256)]
    [InlineData(512)]
    [InlineData(640)]
    public unsafe void Gram_products_take_the_packed_kernels_where_they_give_libtorchs_bits(int channels)
    {
        Skip.IfNot(PackedGemm.IsSupported, "this CPU has no AVX2/FMA; the Gram matrices use the tensor engine's GEMM");
        const int sourceCells = 600, targetCells = 700;
        using var g = new Generator(5);
        using var scope = NewDisposeScope();
        var cells = rand([channels, sourceCells + 9], generator: g)[.., 4..(sourceCells + 4)];   // a view, as the similarity slices it
        var target = rand([channels, targetCells], generator: g);
        var expected = cells.t().mm(target).contiguous().data<float>().ToArray();
        var rows = cells.t().contiguous();
        // The blocking the probe found (a small product) at a similarity's size; with none found, one chain must differ.
        var blockLength = PackedGemm.TorchBlockLength(channels);
        using var panels = new BlockedPanels(StridedVectors.Columns(TensorMemory.Floats(target), targetCells), channels, targetCells, blockLength ?? channels);
        var actual = new float[sourceCells * targetCells];
        var packedRows = new float[sourceCells * panels.BlockLength];
        var partial = new float[sourceCells * targetCells];
        fixed (float* pc = actual, pr = packedRows, pp = partial)
            panels.Multiply(StridedVectors.Rows(TensorMemory.Floats(rows), channels), 0, sourceCells, 0, targetCells, pc, targetCells, pr, pp);
        Assert.Equal(blockLength is not null, expected.AsSpan().SequenceEqual(actual));
    }

    [Fact]
    public unsafe void Vector_loops_give_the_scalar_bits_at_every_width()
    {
        // 91 values on AVX-512 machines: a 64-value step of four 512-bit vectors (the taps), a 512-bit part, a 256-bit
        // part and a scalar tail; the taps read their rows from column 7 on.
        const int n = 91, taps = 5, start = 7;
        var random = new Random(3);
        float[] Draw(int count = n) => Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var row = Draw();
        var scale = Draw();
        var sources = Enumerable.Range(0, taps).Select(_ => Draw(start + n)).ToArray();
        var weights = Enumerable.Range(0, taps).Select(_ => (float)random.NextDouble()).ToArray();
        var (a, b) = (Draw(), Draw());
        const float factor = 0.37f, wa = 0.3f, wb = 0.7f;
        var expectedRows = row.Select((v, k) =>
        {
            float sum = v;
            for (int t = 0; t < taps; t++) sum += weights[t] * sources[t][start + k];
            return sum * (factor * scale[k]);
        }).ToArray();
        var expectedBlend = a.Select((v, k) => wa * v + wb * b[k]).ToArray();
        var blend = new float[n];
        var handles = sources.Select(s => System.Runtime.InteropServices.GCHandle.Alloc(s, System.Runtime.InteropServices.GCHandleType.Pinned)).ToArray();
        try
        {
            var pointers = handles.Select(h => (nint)h.AddrOfPinnedObject()).ToArray();
            fixed (float* r = row, sc = scale, w = weights, pa = a, pb = b, pd = blend)
            fixed (nint* p = pointers)
            {
                VectorOps.AddRowsAndScale(r, (float**)p, start, w, taps, sc, factor, n);
                VectorOps.Blend(pd, pa, wa, pb, wb, n);
                Assert.Equal(a.Max(), VectorOps.Max(pa, n));
            }
        }
        finally { foreach (var h in handles) h.Free(); }
        Assert.Equal(expectedRows.Select(BitConverter.SingleToInt32Bits), row.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(expectedBlend.Select(BitConverter.SingleToInt32Bits), blend.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Factored_similarity_holds_a_few_low_rows_per_worker_whatever_the_block()
    {
        // A tall source window (22 x 98 hyperpixels): each worker's many sub-blocks wrap its rings of coarse rows.
        using var g = new Generator(6);
        var sourceGrid = new HyperpixelGrid(4, 11, 24, 100, 1, 1, 22, 98);
        using var s = new HyperpixelSet([randn([8, 100, 24], generator: g), randn([6, 50, 12], generator: g), randn([5, 25, 6], generator: g)],
            sourceGrid, 96, 400);
        using var t = new HyperpixelSet([randn([8, 16, 20], generator: g), randn([6, 8, 10], generator: g), randn([5, 4, 5], generator: g)],
            new HyperpixelGrid(4, 11, 20, 16, 0, 0, 20, 16), 80, 64);
        Assert.True(PackedGemm.TorchBlockLength(6) is not null && PackedGemm.TorchBlockLength(5) is not null, "the coarse groups take the packed kernels here");
        int n = sourceGrid.Count, m = t.Grid.Count;
        using var scope = NewDisposeScope();
        using var similarity = new FactoredSimilarity(s, t);
        var whole = similarity.Cosines(0, n).clone();
        using var dense = RegularizedHoughMatching.Similarity(s.Dense(), t.Dense(), 1);   // cosines clamped at 0
        var clamped = whole.clamp_min(0);
        Assert.True(allclose(clamped, dense, rtol: 1e-4, atol: 1e-5), $"max difference {(clamped - dense).abs().max().ToDouble()}");
        // 96 consecutive source hyperpixels span at most 6 window rows: at most 5 of the 50 low rows of 12 cells of the
        // first coarse group, 4 of the 25 rows of 6 cells of the second, per worker (all the cells would be 750 rows).
        long perWorker = (5 * 12 + 4 * 6) * (long)m;
        Assert.True(similarity.HeldCoarseFloats <= RowRanges.Workers(n, 32) * perWorker, $"held {similarity.HeldCoarseFloats} floats");
        using var blockwise = new FactoredSimilarity(s, t);
        for (int from = 0; from < n; from += 22)   // one source row of the window per block
        {
            var block = blockwise.Cosines(from, Math.Min(n, from + 22));
            Assert.Equal(whole[from..(from + 22)].data<float>().ToArray(), block.data<float>().ToArray());   // bit-identical
            Assert.True(blockwise.HeldCoarseFloats <= perWorker, $"held {blockwise.HeldCoarseFloats} floats for one row");
        }
    }

    [Fact]
    public void Fused_matching_of_multi_resolution_groups_is_the_same_tiled_or_not()
    {
        using var g = new Generator(12);
        var sets = ThreeLevelSets((c, h, w) => Smooth(g, c, h, w));
        using var s = sets.Source;
        using var t = sets.Target;
        var targetGrid = t.Grid;
        using var gaussian = RegularizedHoughMatching.GaussianKernel(5);
        var untiled = RegularizedHoughMatching.Match(s, t, 200, new PowerWeighting(3), gaussian);
        var tiled = RegularizedHoughMatching.Match(s, t, 200, new PowerWeighting(3), gaussian, maxBlockBytes: 4 * targetGrid.Count * 9); // 9-row blocks
        Assert.Equal(untiled.BestTargetOfSource, tiled.BestTargetOfSource);
        Assert.Equal(untiled.BestSourceOfTarget, tiled.BestSourceOfTarget);
        // Sums differ only in summation order.
        Assert.Equal(1.0, tiled.ConfidenceSum / untiled.ConfidenceSum, 1e-6);
        Assert.Equal(1.0, tiled.SimilaritySum / untiled.SimilaritySum, 1e-6);
    }

    /// <summary>
    /// The stride-4 source of <see cref="ThreeLevelSets"/> and a target whose grid sits at stride 8 (as
    /// <c>TargetHyperpixelStride</c> builds it): its first group holds a resampled stride-4 layer and a stride-8 layer
    /// (8 + 6 channels), its second the stride-16 layer; smooth random fields.
    /// </summary>
    private static (HyperpixelSet Source, HyperpixelSet Target) SetsWithCoarserTarget(Generator g)
    {
        var source = ThreeLevelSource((c, h, w) => Smooth(g, c, h, w));
        var target = new HyperpixelSet([Smooth(g, 14, 9, 11), Smooth(g, 5, 5, 6)], new HyperpixelGrid(8, 11, 11, 9, 1, 0, 10, 9), 88, 72);
        return (source, target);
    }

    [Fact]
    public void Grids_of_different_strides_match_as_the_pairwise_formulation_both_ways()
    {
        using var g = new Generator(13);
        var sets = SetsWithCoarserTarget(g);
        using var fine = sets.Source;
        using var coarse = sets.Target;
        using var gaussian = RegularizedHoughMatching.GaussianKernel(5);
        // Coarse target (target steps of 2 offset units) and, swapped, coarse source (source steps of 2).
        foreach (var (s, t) in new[] { (fine, coarse), (coarse, fine) })
        {
            using var scope = NewDisposeScope();
            var dense = RegularizedHoughMatching.Similarity(s.Dense(), t.Dense(), 1);
            var factored = new FactoredSimilarity(s, t).Cosines(0, s.Grid.Count).clamp_min(0);
            Assert.True(allclose(factored, dense, rtol: 1e-4, atol: 1e-5), $"max difference {(factored - dense).abs().max().ToDouble()}");

            var space = HoughSpace.For(s.ImageWidth, s.ImageHeight, t.ImageWidth, t.ImageHeight, 200);
            var sim = dense.pow(3);
            var reference = PairwiseHoughMatching.Confidence(sim, s, t, space, gaussian);
            var tensorForm = RegularizedHoughMatching.Confidence(sim, s, t, space, gaussian);
            Assert.True(allclose(tensorForm, reference, rtol: 1e-5, atol: 1e-7), $"max difference {(tensorForm - reference).abs().max().ToDouble()}");

            var untiled = RegularizedHoughMatching.Match(s, t, 200, new PowerWeighting(3), gaussian);
            var tiled = RegularizedHoughMatching.Match(s, t, 200, new PowerWeighting(3), gaussian, maxBlockBytes: 4 * t.Grid.Count * 9); // 9-row blocks
            Assert.Equal(reference.argmax(1).data<long>().ToArray(), untiled.BestTargetOfSource);
            Assert.Equal(reference.argmax(0).data<long>().ToArray(), untiled.BestSourceOfTarget);
            Assert.Equal(untiled.BestTargetOfSource, tiled.BestTargetOfSource);
            Assert.Equal(untiled.BestSourceOfTarget, tiled.BestSourceOfTarget);
            Assert.Equal(1.0, untiled.ConfidenceSum / reference.sum().ToDouble(), 1e-4);
        }
    }

    [Fact]
    public void Hough_space_size_follows_the_cell_count()
    {
        var space = HoughSpace.For(300, 200, 300, 225, 8192);
        Assert.Equal(Math.Sqrt(600.0 * 425 / 8192), space.CellSize, 12);
        Assert.Equal((108, 77), (space.BinsX, space.BinsY));
    }
}
