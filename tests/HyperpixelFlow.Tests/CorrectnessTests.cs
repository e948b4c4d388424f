using HyperpixelFlow.Reference;
using HyperpixelFlow.Kernels;
using System.Text.Json;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Matching;
using SkiaSharp;

namespace HyperpixelFlow.Tests;

/// <summary>
/// Outputs checked for being right, not only well formed: a synthetic pair whose target is twice the source's size
/// (so the two images are resized by different factors) has known true correspondences.
/// </summary>
public class CorrectnessTests
{
    private static readonly Lazy<HyperpixelMatcher> Paper = new(() => new HyperpixelMatcher(Presets.Get("paper").Options));

    private static RgbImage Enlarge(RgbImage image, int factor)
    {
        using var bitmap = image.ToBitmap();
        using var large = bitmap.Resize(new SKImageInfo(image.Width * factor, image.Height * factor), new SKSamplingOptions(SKFilterMode.Linear));
        return RgbImage.FromBitmap(large, "enlarged");
    }

    /// <summary>Source 240 x 180 (not resized), target 480 x 360 (resized to 300 x 225: scale 0.625); true target points doubled.</summary>
    private static (SyntheticPair Pair, RgbImage Target, List<Point2> Truth) ScaledPair()
    {
        var pair = SyntheticPairs.Create(240, 180, seed: 8);
        return (pair, Enlarge(pair.Target, 2), pair.TargetPoints.Select(p => new Point2(2 * p.X, 2 * p.Y)).ToList());
    }

    [Fact]
    public void Match_lands_on_the_true_points_of_a_pair_resized_by_different_factors()
    {
        var (pair, target, truth) = ScaledPair();
        var result = Paper.Value.Match(pair.Source, target, pair.SourcePoints);
        Assert.Equal((300, 225), (result.Diagnostics.ResizedTargetWidth, result.Diagnostics.ResizedTargetHeight));
        Assert.Equal((240, 180), (result.Diagnostics.ResizedSourceWidth, result.Diagnostics.ResizedSourceHeight));
        double threshold = 0.1 * 480;
        var distances = result.Points.Zip(truth, (p, t) => Math.Sqrt(Math.Pow(p.Target.X - t.X, 2) + Math.Pow(p.Target.Y - t.Y, 2))).ToList();
        double pck = distances.Count(d => d <= threshold) / (double)distances.Count;
        Assert.True(pck >= 0.8, $"PCK@0.1 {pck:0.00}; distances {string.Join(", ", distances.Select(d => d.ToString("0")))}");
    }

    [Fact]
    public void Match_agrees_with_the_evaluators_prediction_on_a_resized_pair()
    {
        var (pair, target, _) = ScaledPair();
        var result = Paper.Value.Match(pair.Source, target, pair.SourcePoints);
        using var s = Paper.Value.Describe(pair.Source);
        using var t = Paper.Value.Describe(target);
        var resized = Evaluator.PredictResized(Paper.Value, s, t, pair.SourcePoints);
        Assert.Equal(0.625f, t.Primary.Scale);
        foreach (var (matched, evaluated) in result.Points.Zip(resized))
        {
            Assert.Equal(evaluated.X / 0.625f, matched.Target.X, 3);
            Assert.Equal(evaluated.Y / 0.625f, matched.Target.Y, 3);
        }
    }

    [Fact]
    public void Pck_threshold_uses_the_targets_resize_factor()
    {
        var (pair, target, truth) = ScaledPair();
        var root = Directory.CreateTempSubdirectory("hpf-scaled-");
        try
        {
            Directory.CreateDirectory(Path.Combine(root.FullName, "synthetic"));
            foreach (var (image, name) in new[] { (pair.Source, "a.png"), (target, "b.png") })
                using (var bitmap = image.ToBitmap())
                    Visualization.Pictures.SavePng(bitmap, Path.Combine(root.FullName, "synthetic", name));
            string Row(IEnumerable<double> v) => string.Join(",", v.Select(x => x.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            int n = pair.SourcePoints.Count;
            File.WriteAllText(Path.Combine(root.FullName, "test_pairs.csv"),
                "imageA,imageB," + string.Join(",", new[] { "XA", "YA", "XB", "YB" }.SelectMany(c => Enumerable.Range(1, n).Select(k => $"{c}{k}"))) + "\n" +
                $"PF-dataset/synthetic/a.png,PF-dataset/synthetic/b.png,{Row(pair.SourcePoints.Select(p => p.X))},{Row(pair.SourcePoints.Select(p => p.Y))}," +
                $"{Row(truth.Select(p => p.X))},{Row(truth.Select(p => p.Y))}\n");
            var data = PfWillowDataset.Load(root.FullName);
            var results = Path.Combine(root.FullName, "r.jsonl");
            new Evaluator(Paper.Value).Run(data, [0.1], PckThreshold.Auto, results);
            var logged = JsonDocument.Parse(File.ReadAllLines(results)[1]).RootElement;
            double extent = Math.Max(truth.Max(p => p.X) - truth.Min(p => p.X), truth.Max(p => p.Y) - truth.Min(p => p.Y));
            Assert.Equal(extent * 0.625, logged.GetProperty("threshold_pixels").GetDouble(), 3);   // the source's factor is 1
        }
        finally { root.Delete(recursive: true); }
    }

    [Fact]
    public void Inverse_flow_and_hyperpixel_matches_follow_a_known_shift()
    {
        // A texture of random 6 x 6 px colour blocks (every place looks different) and the same texture shifted right
        // by 16 px (its left edge repeated): inside, the inverse flow points back by about -16 px (box means blend a
        // few stray matches: within 5 px) and most hyperpixel matches move by exactly (+16, 0).
        var random = new Random(12);
        var colours = new byte[40 * 30 * 3];
        random.NextBytes(colours);
        byte[] Texture(int shift)
        {
            var pixels = new byte[240 * 180 * 3];
            for (int y = 0; y < 180; y++)
                for (int x = 0; x < 240; x++)
                    Array.Copy(colours, 3 * ((y / 6) * 40 + Math.Max(x - shift, 0) / 6), pixels, 3 * (y * 240 + x), 3);
            return pixels;
        }
        var source = new RgbImage(240, 180, Texture(0));
        var shifted = new RgbImage(240, 180, Texture(16));
        var result = Paper.Value.Match(source, shifted, [new Point2(120, 90)]);
        var inner = Enumerable.Range(0, 40).Select(k => (X: 60 + 3 * k, Y: 50 + 2 * k)).ToList();
        double close = inner.Count(p => Math.Abs(result.InverseFlow.At(p.X + 16, p.Y).Dx + 16) <= 5 && Math.Abs(result.InverseFlow.At(p.X + 16, p.Y).Dy) <= 1);
        Assert.True(close >= 0.9 * inner.Count, $"{close}/{inner.Count} inverse-flow pixels within 5 px of (-16, 0)");
        var central = result.HyperpixelMatches.Where(m => m.Source.X is > 40 and < 200 && m.Source.Y is > 30 and < 150).ToList();
        double shiftedBy16 = central.Count(m => m.Target.X - m.Source.X == 16 && m.Target.Y == m.Source.Y);
        Assert.True(shiftedBy16 >= 0.9 * central.Count, $"{shiftedBy16}/{central.Count} hyperpixel matches moved by (16, 0)");
    }

    [Fact]
    public unsafe void Ties_keep_the_lowest_index_in_rows_and_columns_across_threads_and_blocks()
    {
        // Every confidence equal: each row's best is target 0 and each column's best is source 0, whichever worker or
        // block saw it (160 rows: two workers of the row splitter; then the same rows in two blocks).
        var grid = new HyperpixelGrid(4, 11, 16, 10, 0, 0, 16, 10);
        var target = new HyperpixelGrid(4, 11, 8, 8, 0, 0, 8, 8);
        var lattice = OffsetLattice.Of(grid, target);
        var smoothed = Enumerable.Repeat(1f, lattice.Width * lattice.Height).ToArray();
        var block = Enumerable.Repeat(0.5f, grid.Count * target.Count).ToArray();
        foreach (var blocks in new[] { 1, 2 })
        {
            var best = new FusedHoughKernel.Best(grid.Count, target.Count);
            int rows = grid.Count / blocks;
            fixed (float* b = block)
                for (int k = 0; k < blocks; k++)
                    FusedHoughKernel.ConfidenceArgmax(b + (long)k * rows * target.Count, k * rows, rows, grid, target, smoothed, best);
            Assert.All(best.RowArg, a => Assert.Equal(0, a));
            Assert.All(best.ColumnArg, a => Assert.Equal(0, a));
        }
    }

    [Theory]
    [InlineData(27, 3, 4, 150)]   // 16-wide steps, each target row's last 16 targets taken again (8-wide and scalar steps without AVX-512)
    [InlineData(32, 2, 4, 150)]   // whole 16-wide steps
    [InlineData(7, 4, 4, 150)]    // narrower than a vector: the scalar steps
    [InlineData(21, 6, 8, 7)]     // a coarser target grid (offset steps of 2), blocks of 7 rows: a sweep of four rows, then of three
    [InlineData(27, 3, 4, 5)]     // blocks of 5 rows: sweeps of four rows and of one
    [InlineData(27, 3, 4, 6)]     // blocks of 6 rows: sweeps of four rows and of two
    public unsafe void Confidence_maxima_are_the_first_of_ties_whatever_lane_or_tail_a_value_falls_in(int targetWidth, int targetHeight,
        int targetStride, int blockRows)
    {
        // Values from a few levels, so most maxima are tied across lanes, steps, target rows and source rows (and every
        // sum is exact). 150 source rows in one block: two workers, each sweeping four rows at a time where the CPU runs
        // 512-bit vectors. The kernel keeps per-lane bests over a whole source row; the first index must win.
        var grid = new HyperpixelGrid(4, 11, 15, 10, 0, 0, 15, 10);
        var target = new HyperpixelGrid(targetStride, 11, targetWidth, targetHeight, 0, 0, targetWidth, targetHeight);
        var lattice = OffsetLattice.Of(grid, target);
        var random = new Random(11);
        var smoothed = Enumerable.Range(0, lattice.Width * lattice.Height).Select(_ => new[] { 0.5f, 1f, 2f }[random.Next(3)]).ToArray();
        int n = grid.Count, m = target.Count;
        var block = Enumerable.Range(0, n * m).Select(_ => random.Next(4) * 0.25f).ToArray();
        var best = new FusedHoughKernel.Best(n, m);
        fixed (float* b = block)
            for (int from = 0; from < n; from += blockRows)
                FusedHoughKernel.ConfidenceArgmax(b + (long)from * m, from, Math.Min(blockRows, n - from), grid, target, smoothed, best);
        float Confidence(int i, int j) =>
            block[i * m + j] * smoothed[lattice.Y(i / grid.Width, j / target.Width) * lattice.Width + lattice.X(i % grid.Width, j % target.Width)];
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            int arg = 0;
            for (int j = 0; j < m; j++)
            {
                sum += Confidence(i, j);
                if (Confidence(i, j) > Confidence(i, arg)) arg = j;
            }
            Assert.Equal(arg, best.RowArg[i]);
            Assert.Equal(Confidence(i, arg), best.RowMax[i]);
        }
        for (int j = 0; j < m; j++)
        {
            int arg = 0;
            for (int i = 1; i < n; i++)
                if (Confidence(i, j) > Confidence(arg, j)) arg = i;
            Assert.Equal(arg, best.ColumnArg[j]);
            Assert.Equal(Confidence(arg, j), best.ColumnMax[j]);
        }
        Assert.Equal(sum, best.ConfidenceSum, 1e-9 * sum);
        Assert.Equal(Enumerable.Range(0, n).Max(i => best.RowMax[i]), best.ConfidenceMax);
    }

    [Theory]
    [InlineData(27, 3)]   // 16-wide steps and a masked step per target row (8-wide and scalar steps without AVX-512)
    [InlineData(32, 2)]   // whole 16-wide steps
    [InlineData(7, 4)]    // narrower than a vector
    public unsafe void Every_weight_votes_once_into_its_offset(int targetWidth, int targetHeight)
    {
        // Weights from a few levels, so every vote sum is exact whatever the order: a weight added twice, or left out,
        // changes a sum. 150 source rows: two workers.
        var grid = new HyperpixelGrid(4, 11, 15, 10, 0, 0, 15, 10);
        var target = new HyperpixelGrid(4, 11, targetWidth, targetHeight, 0, 0, targetWidth, targetHeight);
        var lattice = OffsetLattice.Of(grid, target);
        var random = new Random(5);
        int n = grid.Count, m = target.Count;
        var block = Enumerable.Range(0, n * m).Select(_ => random.Next(4) * 0.25f).ToArray();
        var expected = new double[lattice.Width * lattice.Height];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++)
                expected[lattice.Y(i / grid.Width, j / target.Width) * lattice.Width + lattice.X(i % grid.Width, j % target.Width)] += block[i * m + j];
        var votes = new double[expected.Length];
        float largest;
        fixed (float* b = block)
            largest = FusedHoughKernel.WeighAndVote(b, 0, n, grid, target, new PowerWeighting(1), votes);
        Assert.Equal(expected, votes);
        Assert.Equal(block.Max(), largest);
    }

    [Fact]
    public void An_uncovered_point_takes_the_displacement_of_the_nearest_kept_hyperpixel()
    {
        // Window of 4 x 4 kept cells from grid cell (5, 5), jump 4, half field 5: boxes span x, y in [15, 37]. The point
        // (2, 27.5) lies left of every box; its nearest kept cell is column 5 (clamped), row round(27.5 / 4) = 7.
        var source = new HyperpixelGrid(4, 11, 9, 9, 5, 5, 4, 4);
        var target = new HyperpixelGrid(4, 11, 20, 20, 0, 0, 20, 20);
        var best = Enumerable.Range(0, source.Count).Select(n => (long)((n / 4) * 3 * 20 + (n % 4) * 2)).ToArray(); // every cell moves differently
        var p = new DisplacementField(source, target, best).Transfer(new Point2(2, 27.5));
        int nearest = (7 - 5) * 4 + 0;
        var (sb, tb) = (source.BoxAt(nearest), target.BoxAt((int)best[nearest]));
        Assert.Equal(2 + tb.X1 - sb.X1, p.X, 9);
        Assert.Equal(27.5 + tb.Y1 - sb.Y1, p.Y, 9);
    }
}
