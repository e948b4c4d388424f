using HyperpixelFlow.Reference;
using HyperpixelFlow.Kernels;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Tests;

/// <summary>The levers beyond the paper: each does what it says, and the paper's path is untouched when they are off.</summary>
public class LeverTests
{
    private static readonly Lazy<HyperpixelMatcher> Matcher = new(() => new HyperpixelMatcher());

    private static RgbImage Mirror(RgbImage image)
    {
        var pixels = new byte[image.Pixels.Length];
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
                Array.Copy(image.Pixels, 3 * (y * image.Width + x), pixels, 3 * (y * image.Width + image.Width - 1 - x), 3);
        return new RgbImage(image.Width, image.Height, pixels);
    }

    private static double Pck(IReadOnlyList<PointMatch> predicted, IReadOnlyList<Point2> truth, double pixels) =>
        predicted.Zip(truth).Count(z => Math.Sqrt(Math.Pow(z.First.Target.X - z.Second.X, 2) + Math.Pow(z.First.Target.Y - z.Second.Y, 2)) <= pixels)
        / (double)truth.Count;

    [Theory]
    [InlineData(640, 481, 300, false, 300, 225)]    // the paper's truncation: int(481 x 300 / 640) = 225
    [InlineData(333, 500, 300, false, 199, 300)]
    [InlineData(160, 120, 300, false, 160, 120)]    // smaller images are kept...
    [InlineData(160, 120, 300, true, 300, 225)]     // ...unless upscaled to the working side
    [InlineData(300, 200, 400, true, 400, 266)]
    public void Resize_truncates_and_upscales_only_when_asked(int width, int height, int side, bool upscale, int expectedWidth, int expectedHeight)
    {
        var image = new RgbImage(width, height, new byte[width * height * 3]);
        using var prepared = PreparedImage.From(image, side, upscale: upscale);
        Assert.Equal((expectedWidth, expectedHeight), (prepared.Width, prepared.Height));
        Assert.Equal((float)side / Math.Max(width, height) is var s && (width > side || height > side || upscale) ? s : 1f, prepared.Scale);
    }

    [Fact]
    public void Target_flip_recovers_a_mirrored_target_and_reports_the_mirrored_variant()
    {
        var pair = SyntheticPairs.Create(240, 180, seed: 4);
        var mirrored = Mirror(pair.Target);
        var truth = pair.TargetPoints.Select(p => new Point2(pair.Target.Width - 1 - p.X, p.Y)).ToList();
        var plain = Matcher.Value.Match(pair.Source, mirrored, pair.SourcePoints);
        using var flipping = new HyperpixelMatcher(Matcher.Value.Backbone, new HyperpixelFlowOptions { Image = new() { FlipTarget = true } });
        var flipped = flipping.Match(pair.Source, mirrored, pair.SourcePoints);
        double threshold = 0.1 * Math.Max(pair.Target.Width, pair.Target.Height);
        double before = Pck(plain.Points, truth, threshold), after = Pck(flipped.Points, truth, threshold);
        Assert.True(after >= 0.7 && after >= before + 0.3, $"PCK without flip {before:0.00}, with flip {after:0.00}");
        Assert.Equal(2, flipped.Diagnostics.Variants);
        using var asSource = flipping.Describe(pair.Source, role: PairSide.Source);
        using var either = flipping.Describe(pair.Source);
        Assert.Equal([false], asSource.Views.Select(v => v.Flipped));      // a source never needs its mirror image
        Assert.Equal([false, true], either.Views.Select(v => v.Flipped));
    }

    [Fact]
    public void Scales_describe_every_view_and_each_point_keeps_its_most_confident_variant()
    {
        var pair = SyntheticPairs.Create(400, 300, seed: 2);
        using var multi = new HyperpixelMatcher(Matcher.Value.Backbone, new HyperpixelFlowOptions { Image = new() { MaxSide = 300, Scales = [1, 0.5] } });
        using var source = multi.Describe(pair.Source);
        using var target = multi.Describe(pair.Target);
        Assert.Equal([(300, 225), (150, 112)], source.Views.Select(v => (v.Width, v.Height)));
        var prediction = multi.Predict(source, target);
        Assert.Equal(2, prediction.VariantCount);
        using var single = new HyperpixelMatcher(Matcher.Value.Backbone, new HyperpixelFlowOptions { Image = new() { MaxSide = 300 } });
        using var singleSource = single.Describe(pair.Source);
        using var singleTarget = single.Describe(pair.Target);
        var primaryOnly = single.Predict(singleSource, singleTarget);
        foreach (var p in pair.SourcePoints)
        {
            var fused = prediction.Transfer(p);
            var primary = primaryOnly.Transfer(p);
            Assert.True(fused.Score >= primary.Score, $"fused {fused.Score} < primary {primary.Score}");
            if (fused.Variant == 0) Assert.Equal(primary.Target, fused.Target);
            // In the primary frame, a point of another variant is its original position times the primary scale.
            Assert.Equal(fused.Target.X * target.Primary.Scale, fused.TargetInPrimaryFrame.X, 3);
        }
    }

    [Fact]
    public void Soft_argmax_is_the_confidence_weighted_position_in_the_window()
    {
        // Peak at (2, 1) with a neighbour at (3, 1) half as confident: x = (2 x 1 + 3 x 0.5) / 1.5; the far cell is outside radius 1.
        float Confidence(int x, int y) => (x, y) switch { (2, 1) => 1f, (3, 1) => 0.5f, (0, 0) => 9f, _ => 0f };
        var (rx, ry) = FusedHoughKernel.SubCellPeak(2, 1, 5, 4, 1, Confidence);
        Assert.Equal(3.5f / 1.5f, rx, 5);
        Assert.Equal(1f, ry, 5);
        // A window clipped by the border, and an all-zero window that keeps the best cell.
        Assert.Equal((0f, 0f), FusedHoughKernel.SubCellPeak(0, 0, 5, 4, 1, (x, y) => x == 0 && y == 0 ? 1f : 0f));
        Assert.Equal((4f, 3f), FusedHoughKernel.SubCellPeak(4, 3, 5, 4, 2, (_, _) => 0f));
    }

    [Fact]
    public void A_refined_match_moves_points_by_the_fractional_target_position()
    {
        var grid = new HyperpixelGrid(4, 11, 10, 8, 0, 0, 10, 8);
        var best = Enumerable.Range(0, grid.Count).Select(n => (long)n).ToArray();           // identity match...
        var refined = best.Select(n => ((float)(n % 10) + 0.25f, (float)(n / 10) - 0.5f)).ToArray(); // ...refined by (+0.25, -0.5) cells
        var match = new HoughMatch(best, best, new HoughSpace(1, 1, 1), 0, 0, 0, 1, Enumerable.Repeat(1f, grid.Count).ToArray(), refined);
        var p = new DisplacementField(grid, grid, match).Transfer(new Point2(17, 13));
        Assert.Equal(17 + 1.0, p.X, 5);    // 0.25 cell x jump 4
        Assert.Equal(13 - 2.0, p.Y, 5);
    }

    [Fact]
    public void Point_confidence_is_the_mean_normalised_confidence_of_the_covering_boxes()
    {
        // 3 x 1 grid, jump 4, field 11: x = 6 is covered by cells 1 and 2; the pair's best confidence is 8.
        var grid = new HyperpixelGrid(4, 11, 3, 1, 0, 0, 3, 1);
        var match = new HoughMatch([0, 1, 2], [0, 1, 2], new HoughSpace(1, 1, 1), 0, 0, 0, 8, [8f, 4f, 2f]);
        var field = new DisplacementField(grid, grid, match);
        Assert.Equal((0.5 + 0.25) / 2, field.Score(new Point2(6, 0)), 6);
        Assert.True(match.IsMutual(1));
        Assert.False((match with { BestSourceOfTarget = [0, 0, 2] }).IsMutual(1));
    }

    [Fact]
    public void Consistency_filter_blanks_exactly_the_pixels_whose_round_trip_misses()
    {
        var pair = SyntheticPairs.Create(160, 120, seed: 6);
        using var source = Matcher.Value.Describe(pair.Source);
        using var target = Matcher.Value.Describe(pair.Target);
        var prediction = Matcher.Value.Predict(source, target);
        var all = prediction.Flow(160, 120, 0);
        var filtered = prediction.Flow(160, 120, 2.0);
        Assert.DoesNotContain(all.Data, float.IsNaN);
        int blanked = 0;
        for (int y = 0; y < 120; y += 7)
            for (int x = 0; x < 160; x += 7)
            {
                bool consistent = prediction.Transfer(new Point2(x, y), scaleInFloat: false).CycleError <= 2.0;
                Assert.Equal(!consistent, float.IsNaN(filtered.At(x, y).Dx));
                if (consistent) Assert.Equal(all.At(x, y), filtered.At(x, y));
                else blanked++;
            }
        Assert.InRange(blanked, 1, 17 * 23 - 1);   // the synthetic pair has both kinds of pixels
    }

    [Fact]
    public void Matching_step_comes_from_the_options_and_the_paper_preset_is_the_papers_matching()
    {
        Assert.Equal("rhm", Presets.Get("paper").Options.Matching.Name);
        Assert.Equal("ot", new HyperpixelFlowOptions().Matching.Name);
        var pair = SyntheticPairs.Create(160, 120, seed: 3);
        using var ot = new HyperpixelMatcher(Matcher.Value.Backbone, new HyperpixelFlowOptions { Matching = new() { Name = "ot" } });
        using var rhm = new HyperpixelMatcher(Matcher.Value.Backbone, Presets.Get("paper").Options);
        var withOt = ot.Match(pair.Source, pair.Target, pair.SourcePoints);
        var withRhm = rhm.Match(pair.Source, pair.Target, pair.SourcePoints);
        Assert.Equal([1, 2, 4, 5, 6, 8], ot.Layers);      // each step's own default layers
        Assert.Equal([1, 3, 4, 5, 6, 8], rhm.Layers);
        Assert.StartsWith("ot(", withOt.Diagnostics.Matching);
        Assert.StartsWith("rhm(", withRhm.Diagnostics.Matching);
        Assert.NotEqual(withRhm.Diagnostics.ConfidenceMax, withOt.Diagnostics.ConfidenceMax);
    }
}
