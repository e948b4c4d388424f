using HyperpixelFlow.Reference;
using HyperpixelFlow.Kernels;
using HyperpixelFlow.Hyperpixels;
using HyperpixelFlow.Matching;
using static TorchSharp.torch;

namespace HyperpixelFlow.Tests;

public class OptimalTransportTests
{
    /// <summary>Cosines in [-1, 1] from the test's own generator (no global seed shared with other tests).</summary>
    private static float[,] RandomCosines(int n, int m, int seed)
    {
        var random = new Random(seed);
        var c = new float[n, m];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) c[i, j] = (float)(random.NextDouble() * 2 - 1);
        return c;
    }

    /// <summary>
    /// SCOT's Sinkhorn as written in its code, in double precision and without logarithms: a = 1/N; per iteration
    /// b = nu / K^T a, a = mu / K b; P = diag(a) K diag(b); weight = (N P)^planExponent.
    /// </summary>
    private static double[,] ReferencePlanWeights(float[,] cosines, OptimalTransportOptions o)
    {
        int n = cosines.GetLength(0), m = cosines.GetLength(1);
        var k = new double[n, m];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) k[i, j] = Math.Exp(-(1 - Math.Pow(Math.Max(cosines[i, j], 0), o.CostExponent)) / o.Epsilon);
        var a = Enumerable.Repeat(1.0 / n, n).ToArray();
        var b = new double[m];
        for (int iteration = 0; iteration < o.Iterations; iteration++)
        {
            for (int j = 0; j < m; j++)
            {
                double s = 0;
                for (int i = 0; i < n; i++) s += k[i, j] * a[i];
                b[j] = 1.0 / m / s;
            }
            for (int i = 0; i < n; i++)
            {
                double s = 0;
                for (int j = 0; j < m; j++) s += k[i, j] * b[j];
                a[i] = 1.0 / n / s;
            }
        }
        var w = new double[n, m];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) w[i, j] = Math.Pow(n * a[i] * k[i, j] * b[j], o.PlanExponent);
        return w;
    }

    /// <summary>The CPU kernels' path: passes over row blocks of <paramref name="blockRows"/>, then per-row weighting.</summary>
    private static unsafe float[,] FusedWeights(float[,] cosines, VoteWeighting weighting, int blockRows)
    {
        int n = cosines.GetLength(0), m = cosines.GetLength(1);
        var values = (float[,])cosines.Clone();
        weighting.Begin(n, m);
        fixed (float* v = values)
        {
            for (int pass = 0; pass < weighting.Passes; pass++)
            {
                for (int from = 0; from < n; from += blockRows)
                    weighting.Observe(pass, v + (long)from * m, from, Math.Min(blockRows, n - from), m);
                weighting.EndPass(pass);
            }
            for (int i = 0; i < n; i++) weighting.Weigh(v + (long)i * m, i, m);
        }
        return values;
    }

    private static void AssertClose(double[,] expected, float[,] actual, double relative)
    {
        double worst = 0;
        for (int i = 0; i < expected.GetLength(0); i++)
            for (int j = 0; j < expected.GetLength(1); j++)
            {
                Assert.True(float.IsFinite(actual[i, j]), $"weight ({i}, {j}) is {actual[i, j]}");
                worst = Math.Max(worst, Math.Abs(actual[i, j] - expected[i, j]) / Math.Max(Math.Abs(expected[i, j]), 1e-6));
            }
        Assert.True(worst <= relative, $"largest relative difference {worst:g3}");
    }

    [Theory]
    [InlineData(1, 0.05, 1, 0.5, 1000)]    // SCOT's PF-WILLOW setting, whole matrix in one block
    [InlineData(1, 0.05, 1, 0.5, 7)]       // ... in 7-row blocks
    [InlineData(3, 0.1, 2, 1.0, 5)]        // more iterations, another cost and plan exponent, tiled
    [InlineData(2, 0.02, 1, 0.7, 4)]       // a general plan exponent
    public void Fused_and_tensor_sinkhorn_equal_scots_plain_formulation(int iterations, double epsilon, int costExponent,
        double planExponent, int blockRows)
    {
        var options = new OptimalTransportOptions { Iterations = iterations, Epsilon = epsilon, CostExponent = costExponent, PlanExponent = planExponent };
        var cosines = RandomCosines(23, 37, seed: 5);   // 37 columns: vector body and scalar tail
        var expected = ReferencePlanWeights(cosines, options);

        AssertClose(expected, FusedWeights(cosines, new OptimalTransportWeighting(options), blockRows), 2e-4);

        using var tensorWeights = new OptimalTransportWeighting(options).Weigh(tensor(cosines));
        var t = tensorWeights.data<float>().ToArray();
        var asGrid = new float[23, 37];
        Buffer.BlockCopy(t, 0, asGrid, 0, t.Length * sizeof(float));
        AssertClose(expected, asGrid, 2e-4);
    }

    [Fact]
    public void The_kernels_exponential_is_within_two_ulp_of_the_exact_value_and_exact_at_its_edges()
    {
        // Every 9973rd float between the edges of the normal range (about 216,000 values), then the special cases.
        // A float's bits, less its sign, order its magnitude.
        var values = new List<float>();
        foreach (float edge in new[] { -87.33f, 88.72f })
            for (long magnitude = 0; magnitude <= (BitConverter.SingleToInt32Bits(edge) & int.MaxValue); magnitude += 9973)
                values.Add(MathF.CopySign(BitConverter.Int32BitsToSingle((int)magnitude), edge));
        var x = values.ToArray();
        int width = System.Numerics.Vector<float>.Count;
        double worstUlps = 0;
        float worstAt = 0;
        for (int k = 0; k + width <= x.Length; k += width)
        {
            var e = VectorExp.Exp(new System.Numerics.Vector<float>(x, k));
            for (int lane = 0; lane < width; lane++)
            {
                double exact = Math.Exp(x[k + lane]);
                float ulp = MathF.BitIncrement((float)exact) - (float)exact;
                double ulps = Math.Abs(e[lane] - exact) / ulp;
                if (ulps > worstUlps) (worstUlps, worstAt) = (ulps, x[k + lane]);
            }
        }
        Assert.True(worstUlps <= 2, $"{worstUlps:0.00} ulp at x = {worstAt:R}");

        float[] special = [0f, float.NegativeInfinity, -1000f, -87.5f, 89f, float.PositiveInfinity, float.NaN, 1f];
        var padded = special.Concat(Enumerable.Repeat(0f, width)).ToArray();
        var got = new float[padded.Length];
        for (int k = 0; k + width <= padded.Length; k += width) VectorExp.Exp(new System.Numerics.Vector<float>(padded, k)).CopyTo(got, k);
        Assert.Equal(1f, got[0]);
        Assert.Equal(0f, got[1]);
        Assert.Equal(0f, got[2]);
        Assert.Equal(0f, got[3]);
        Assert.Equal(float.PositiveInfinity, got[4]);
        Assert.Equal(float.PositiveInfinity, got[5]);
        Assert.True(float.IsNaN(got[6]));
        Assert.Equal(MathF.E, got[7], 1e-6f);
    }

    [SkippableFact]
    public void Exp_at_512_bits_gives_the_same_bits_as_at_the_vector_width()
    {
        Skip.IfNot(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated, "this CPU does not run 512-bit vectors: the wide overload is not used here");
        // Every 4099th float up to beyond both clamps, both signs, and the special values.
        var values = new List<float> { 0f, -0f, float.NegativeInfinity, float.PositiveInfinity, float.NaN, -1000f, -87.5f, 89f };
        for (long magnitude = 0; magnitude <= BitConverter.SingleToInt32Bits(200f); magnitude += 4099)
        {
            float v = BitConverter.Int32BitsToSingle((int)magnitude);
            values.Add(v);
            values.Add(-v);
        }
        var x = values.Concat(Enumerable.Repeat(0f, 16 - values.Count % 16)).ToArray();
        int width = System.Numerics.Vector<float>.Count;
        var narrow = new float[x.Length];
        var wide = new float[x.Length];
        for (int k = 0; k < x.Length; k += width) VectorExp.Exp(new System.Numerics.Vector<float>(x, k)).CopyTo(narrow, k);
        for (int k = 0; k < x.Length; k += 16) System.Runtime.Intrinsics.Vector512.CopyTo(VectorExp.Exp(System.Runtime.Intrinsics.Vector512.Create(x, k)), wide.AsSpan(k));
        for (int k = 0; k < x.Length; k++)
            Assert.True(BitConverter.SingleToInt32Bits(narrow[k]) == BitConverter.SingleToInt32Bits(wide[k]),
                $"e^{x[k]:R}: {narrow[k]:R} at the vector width, {wide[k]:R} at 512 bits");
    }

    [Fact]
    public void Exp_in_range_gives_the_bits_of_exp_over_its_whole_range()
    {
        // Every 257th float of [InRangeLow, InRangeHigh], both ends (results at the edge of float's normal range), and NaN.
        var values = new List<float> { VectorExp.InRangeLow, VectorExp.InRangeHigh, 0f, -0f, float.NaN, -80f, -87.33f };
        for (long bits = 0; bits <= BitConverter.SingleToInt32Bits(-VectorExp.InRangeLow); bits += 257)
        {
            float v = BitConverter.Int32BitsToSingle((int)bits);
            values.Add(-v);
            if (v <= VectorExp.InRangeHigh) values.Add(v);
        }
        var x = values.Concat(Enumerable.Repeat(0f, 16 - values.Count % 16)).ToArray();
        int width = System.Numerics.Vector<float>.Count;
        for (int k = 0; k < x.Length; k += width)
        {
            var v = new System.Numerics.Vector<float>(x, k);
            var (exact, fast) = (VectorExp.Exp(v), VectorExp.ExpInRange(v));
            for (int l = 0; l < width; l++)
                Assert.True(BitConverter.SingleToInt32Bits(exact[l]) == BitConverter.SingleToInt32Bits(fast[l]), $"e^{x[k + l]:R}: {exact[l]:R}, in range {fast[l]:R}");
        }
        if (!System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) return;   // the wide overload only runs on 512-bit CPUs
        for (int k = 0; k < x.Length; k += 16)
        {
            var v = System.Runtime.Intrinsics.Vector512.Create(x, k);
            var (exact, fast) = (VectorExp.Exp(v), VectorExp.ExpInRange(v));
            for (int l = 0; l < 16; l++)
                Assert.True(BitConverter.SingleToInt32Bits(exact[l]) == BitConverter.SingleToInt32Bits(fast[l]), $"e^{x[k + l]:R} at 512 bits: {exact[l]:R}, in range {fast[l]:R}");
        }
    }

    [Fact]
    public void Plan_rows_carry_one_unit_of_mass_and_columns_their_share()
    {
        // With a single iteration the last update is the rows', so N P has rows summing to 1 exactly (plan exponent 1).
        var options = new OptimalTransportOptions { PlanExponent = 1 };
        var weights = FusedWeights(RandomCosines(19, 24, seed: 9), new OptimalTransportWeighting(options), 6);
        for (int i = 0; i < 19; i++)
            Assert.Equal(1.0, Enumerable.Range(0, 24).Sum(j => (double)weights[i, j]), 4);
    }

    [Fact]
    public void A_tiny_epsilon_that_overflows_the_plain_formulation_gives_finite_weights()
    {
        // exp(-1 / 0.001) underflows to 0 in double: the plain formulation divides 0 by 0 where a column has no
        // positive cosine; the log domain does not.
        var cosines = RandomCosines(12, 16, seed: 3);
        for (int i = 0; i < 12; i++) cosines[i, 5] = -0.5f;       // a column without any positive cosine
        var options = new OptimalTransportOptions { Epsilon = 0.001 };
        Assert.Contains(double.NaN, ReferencePlanWeights(cosines, options).Cast<double>());
        var weights = FusedWeights(cosines, new OptimalTransportWeighting(options), 5);
        Assert.All(weights.Cast<float>(), w => Assert.True(float.IsFinite(w) && w >= 0, $"weight {w}"));
        // Each row still sums to one unit of mass (plan exponent 0.5: squares sum to 1).
        for (int i = 0; i < 12; i++) Assert.Equal(1.0, Enumerable.Range(0, 16).Sum(j => (double)weights[i, j] * weights[i, j]), 3);
    }

    /// <summary>Random features [n, c] drawn from <paramref name="random"/>, smooth along the grid: no near-ties.</summary>
    private static Tensor SmoothField(Random random, int n, int c)
    {
        var values = new float[n * c];
        for (int k = 0; k < values.Length; k++) values[k] = (float)(random.NextDouble() * 2 - 1);
        return tensor(values, [n, c]).cumsum(0).div(5);
    }

    [Fact]
    public void Ot_matching_tiled_or_not_equals_the_tensor_formulation()
    {
        var random = new Random(21);
        using var s = HyperpixelSet.FromDense(SmoothField(random, 9 * 11, 32), new HyperpixelGrid(4, 11, 13, 12, 1, 2, 11, 9), 52, 44);
        using var t = HyperpixelSet.FromDense(SmoothField(random, 8 * 12, 32), new HyperpixelGrid(4, 11, 15, 10, 2, 1, 12, 8), 56, 36);
        using var gaussian = RegularizedHoughMatching.GaussianKernel(7);
        var options = new OptimalTransportOptions { Iterations = 2 };
        var space = HoughSpace.For(s.ImageWidth, s.ImageHeight, t.ImageWidth, t.ImageHeight, 300);
        using var weights = new OptimalTransportWeighting(options).Weigh(RegularizedHoughMatching.Similarity(s.Dense(), t.Dense(), 1));
        using var confidence = RegularizedHoughMatching.Confidence(weights, s, t, space, gaussian);

        var untiled = RegularizedHoughMatching.Match(s, t, 300, new OptimalTransportWeighting(options), gaussian);
        var tiled = RegularizedHoughMatching.Match(s, t, 300, new OptimalTransportWeighting(options), gaussian, maxBlockBytes: 4 * t.Grid.Count * 5);
        Assert.Equal(confidence.argmax(1).data<long>().ToArray(), untiled.BestTargetOfSource);
        Assert.Equal(confidence.argmax(0).data<long>().ToArray(), untiled.BestSourceOfTarget);
        Assert.Equal(untiled.BestTargetOfSource, tiled.BestTargetOfSource);
        Assert.Equal(untiled.BestSourceOfTarget, tiled.BestSourceOfTarget);
        Assert.Equal(confidence.max(1).values.data<float>().ToArray(), untiled.BestConfidenceOfSource, (a, b) => Math.Abs(a - b) <= 1e-4 * Math.Abs(a));
    }

    [Theory]
    [InlineData(13, 11)]   // 143 source rows: two workers at the pass's grain
    [InlineData(8, 6)]     // 48 rows: one worker at the pass's grain, two at the similarity kernel's own
    public unsafe void First_column_pass_in_the_similarity_tiles_gives_the_bits_of_the_pass_over_the_stored_matrix(int width, int height)
    {
        var random = new Random(5);
        // 1230 targets: two column tiles, the second ending in a 256-bit step and a scalar tail.
        using var s = HyperpixelSet.FromDense(SmoothField(random, width * height, 32), new HyperpixelGrid(4, 11, width + 2, height + 2, 1, 1, width, height),
            4 * (width + 2), 4 * (height + 2));
        using var t = HyperpixelSet.FromDense(SmoothField(random, 30 * 41, 32), new HyperpixelGrid(4, 11, 43, 32, 1, 1, 41, 30), 172, 128);
        int n = s.Grid.Count, m = t.Grid.Count;
        using var similarity = new FactoredSimilarity(s, t);
        using var stored = similarity.Cosines(0, n);
        var overStored = new OptimalTransportWeighting(new OptimalTransportOptions());
        overStored.Begin(n, m);
        overStored.Observe(0, TensorMemory.Floats(stored), 0, n, m);
        overStored.EndPass(0);
        var inTiles = new OptimalTransportWeighting(new OptimalTransportOptions());
        inTiles.Begin(n, m);
        var observer = inTiles.ObserveFirstPassInTiles();
        Assert.NotNull(observer);
        using var again = similarity.Cosines(0, n, null, observer);
        inTiles.EndPass(0);
        Assert.True(stored.equal(again).all().item<bool>(), "watching the tiles changed the cosines");
        var a = stored.data<float>().ToArray();
        var b = (float[])a.Clone();
        fixed (float* pa = a, pb = b)
            for (int i = 0; i < n; i++)
            {
                overStored.Weigh(pa + (long)i * m, i, m);
                inTiles.Weigh(pb + (long)i * m, i, m);
            }
        Assert.Equal(a.Select(BitConverter.SingleToInt32Bits), b.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Bad_settings_and_unknown_steps_are_refused_by_name()
    {
        Assert.Contains("epsilon", Assert.Throws<HyperpixelFlowException>(() => new HyperpixelFlowOptions { Matching = new() { OptimalTransport = new() { Epsilon = 0 } } }.Validate()).Message);
        Assert.Contains("iterations", Assert.Throws<HyperpixelFlowException>(() => new HyperpixelFlowOptions { Matching = new() { OptimalTransport = new() { Iterations = 0 } } }.Validate()).Message);
        var unknown = Assert.Throws<HyperpixelFlowException>(() => new HyperpixelFlowOptions { Matching = new() { Name = "banana" } }.Validate());
        Assert.Contains("known: rhm, ot", unknown.Message);
    }
}
