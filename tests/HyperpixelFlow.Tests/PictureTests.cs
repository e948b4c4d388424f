using HyperpixelFlow.Flow;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;
using SkiaSharp;

namespace HyperpixelFlow.Tests;

public class PictureTests
{
    [Fact]
    public void Many_matches_are_subsampled_evenly_and_few_are_all_drawn()
    {
        Assert.Equal(Enumerable.Range(0, 10), Pictures.SubsampledIndices(10, 64));
        var drawn = Pictures.SubsampledIndices(100, 64);
        Assert.Equal(64, drawn.Count);
        Assert.Equal(0, drawn[0]);
        Assert.Equal(drawn.Count, drawn.Distinct().Count());
        Assert.True(drawn[^1] >= 95, $"last drawn {drawn[^1]}: the subsample must span the list");
    }

    [Fact]
    public void Source_markers_are_filled_and_target_markers_hollow_and_a_crowded_picture_says_what_it_shows()
    {
        var blank = new RgbImage(100, 80, Enumerable.Repeat((byte)128, 100 * 80 * 3).ToArray());
        var one = new[] { new PointMatch(new Point2(30, 40), new Point2(60, 40), 1.0) };
        using var picture = Pictures.Correspondences(blank, blank, one);
        Assert.Equal((208, 80), (picture.Width, picture.Height));
        Assert.NotEqual(new SKColor(128, 128, 128), picture.GetPixel(30, 40));           // filled dot on the source
        Assert.Equal(new SKColor(128, 128, 128, 255), picture.GetPixel(100 + 8 + 60, 40));   // ring centre: the image shows through
        var many = Enumerable.Range(0, 100).Select(i => new PointMatch(new Point2(i % 100, 40), new Point2(i % 100, 40), 0.5)).ToList();
        using var crowded = Pictures.Correspondences(blank, blank, many);
        Assert.True(crowded.Height > 80, "a subsampled picture carries a caption row");
    }

    [Fact]
    public void Flow_picture_has_a_legend_wheel_and_paints_filtered_pixels_black()
    {
        var data = new float[20 * 10 * 2];
        for (int k = 0; k < data.Length; k += 2) (data[k], data[k + 1]) = (5f, 0f);   // everything moves right
        data[0] = data[1] = float.NaN;                                                 // pixel (0, 0) filtered out
        using var picture = Pictures.FlowColors(new FlowField(20, 10, data));
        Assert.True(picture.Width > 20 && picture.Height >= 10);
        Assert.Equal(SKColors.Black, picture.GetPixel(0, 0));
        var right = picture.GetPixel(5, 5);
        // Moving right at full magnitude is the wheel's colour at its right edge, left of centre the opposite hue.
        int cx = 20 + 150 / 2, cy = 44 + 8;
        Assert.Equal(Pictures.FlowColor(5, 0, 5), right);
        Assert.Equal(right, picture.GetPixel(cx + 44, cy));
        Assert.NotEqual(right, picture.GetPixel(cx - 44, cy));
        Assert.Equal(SKColors.White, picture.GetPixel(cx, cy + 60));   // below the wheel: the legend's background
    }
}
