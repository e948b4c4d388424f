using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow.Tests;

public class TransferTests
{
    private static HyperpixelGrid Grid(int w, int h, int x0 = 0, int y0 = 0) => new(4, 11, w + x0, h + y0, x0, y0, w, h);

    /// <summary>A 10 x 8 source grid whose every cell (x, y) matches target cell (x + 2, y + 1) of a 12 x 10 grid: (8, 4) px.</summary>
    private static DisplacementField UniformShift()
    {
        var source = Grid(10, 8);
        var best = Enumerable.Range(0, source.Count).Select(n => (long)((n / 10 + 1) * 12 + n % 10 + 2)).ToArray();
        return new DisplacementField(source, Grid(12, 10), best);
    }

    [Fact]
    public void Uniform_shift_moves_every_point_by_the_shift()
    {
        var field = UniformShift();
        var p = field.Transfer(new Point2(13.5, 9.25));
        Assert.Equal(21.5, p.X, 9);
        Assert.Equal(13.25, p.Y, 9);
    }

    [Fact]
    public void Transfer_is_the_mean_over_the_covering_boxes()
    {
        // 3 x 1 grid, jump 4, field 11 (half 5): boxes x in [-5,5], [-1,9], [3,13]. Point x = 6 is covered by cells 1 and 2.
        var source = Grid(3, 1);
        var target = Grid(6, 1);
        var field = new DisplacementField(source, target, [0, 3, 5]); // cell displacements 0, 8, 12 px
        var p = field.Transfer(new Point2(6, 0));
        Assert.Equal(6 + (8 + 12) / 2.0, p.X, 9);
        var q = field.Transfer(new Point2(3, 0)); // covered by all three (bounds inclusive)
        Assert.Equal(3 + (0 + 8 + 12) / 3.0, q.X, 9);
    }

    [Fact]
    public void An_uncovered_point_takes_the_nearest_hyperpixel()
    {
        // Pruned window starting at cell 5: boxes start at x = 15, so x = 2 is covered by none.
        var source = Grid(4, 4, x0: 5, y0: 5);
        var target = Grid(20, 20);
        var best = Enumerable.Range(0, source.Count).Select(n => (long)n).ToArray();
        var field = new DisplacementField(source, target, best);
        var p = field.Transfer(new Point2(2, 2));
        // nearest kept cell is (5, 5) -> target cell 0 at (0, 0): displacement -20 px on both axes
        Assert.Equal(-18, p.X, 9);
        Assert.Equal(-18, p.Y, 9);
    }

    [Fact]
    public void Dense_flow_agrees_with_point_transfer_in_original_pixels()
    {
        var field = UniformShift();
        var flow = FlowField.FromDisplacement(field, 80, 64, fromScale: 0.5f, toScale: 0.5f);
        var (dx, dy) = flow.At(30, 20);
        var t = field.Transfer(new Point2(15, 10));
        Assert.Equal(t.X / 0.5 - 30, dx, 4);
        Assert.Equal(t.Y / 0.5 - 20, dy, 4);
        Assert.Equal(16, dx, 4);
    }
}
