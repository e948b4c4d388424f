using System.Text.Json;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Tests;

/// <summary>Step-by-step parity with the original implementation on PF-WILLOW pair 0 (reference/trace_pair0_*.json).</summary>
[Trait("Category", TestCategory.Data)]
public class ParityTraceTests
{
    private static JsonElement Trace() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(SharedData.Reference, "trace_pair0_L2-4-5-6-7.json"))).RootElement;

    private static string ImagePath(string csvPath) =>
        Path.Combine(SharedData.PfWillow, string.Join('/', csvPath.Split('/').Skip(1)));

    [SkippableFact]
    public void Pair0_matches_trace_stage_by_stage()
    {
        var trace = Trace();
        using var matcher = new HyperpixelMatcher(Presets.Get("paper").Options.WithLayers([2, 4, 5, 6, 7]));
        var src = ImageLoader.Load(ImagePath(trace.GetProperty("src").GetString()!));
        var trg = ImageLoader.Load(ImagePath(trace.GetProperty("trg").GetString()!));
        using var ps = matcher.Prepare(src);
        using var pt = matcher.Prepare(trg);
        Assert.Equal(Ints(trace.GetProperty("src_resized_hw")), new[] { ps.Height, ps.Width });
        Assert.Equal(Ints(trace.GetProperty("trg_resized_hw")), new[] { pt.Height, pt.Width });

        var features = matcher.ExtractFeatures(ps, matcher.Layers);
        var shapes = trace.GetProperty("src_layer_shapes");
        var first5 = trace.GetProperty("src_layer_first5_at_0_0");
        for (int i = 0; i < matcher.Layers.Count; i++)
        {
            string id = matcher.Layers[i].ToString();
            Assert.Equal(Ints(shapes.GetProperty(id)).Select(v => (long)v), features[i].shape);
            var expected = first5.GetProperty(id).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var actual = features[i][0, ..5, 0, 0].data<float>().ToArray();
            for (int c = 0; c < 5; c++) Assert.InRange(actual[c], expected[c] - 2e-3 - 1e-3 * Math.Abs(expected[c]), expected[c] + 2e-3 + 1e-3 * Math.Abs(expected[c]));
        }
        var targetFeatures = matcher.ExtractFeatures(pt, matcher.Layers);
        using var s = matcher.BuildHyperpixels(features, matcher.Layers, ps, PairSide.Source);
        using var t = matcher.BuildHyperpixels(targetFeatures, matcher.Layers, pt, PairSide.Target);
        Assert.Equal(trace.GetProperty("src_n_hyperpixels").GetInt32(), s.Grid.Count);
        Assert.Equal(trace.GetProperty("trg_n_hyperpixels").GetInt32(), t.Grid.Count);
        Assert.Equal(trace.GetProperty("src_hyperimage_shape")[0].GetInt32(), (int)s.Channels);
        AssertBox(trace.GetProperty("src_first_box"), s.Grid.BoxAt(0));
        AssertBox(trace.GetProperty("src_last_box"), s.Grid.BoxAt(s.Grid.Count - 1));
        AssertBox(trace.GetProperty("trg_last_box"), t.Grid.BoxAt(t.Grid.Count - 1));

        var match = matcher.MatchHyperpixels(s, t);
        Assert.Equal(Ints(trace.GetProperty("hough_nbins_xy")), new[] { match.Space.BinsX, match.Space.BinsY });
        Assert.Equal(trace.GetProperty("hough_cellsize").GetDouble(), match.Space.CellSize, 9);
        AssertClose(trace.GetProperty("similarity_sum").GetDouble(), match.SimilaritySum, 1e-3);
        AssertClose(trace.GetProperty("similarity_max").GetDouble(), match.SimilarityMax, 1e-3);
        AssertClose(trace.GetProperty("confidence_sum").GetDouble(), match.ConfidenceSum, 1e-3);
        AssertClose(trace.GetProperty("confidence_max").GetDouble(), match.ConfidenceMax, 1e-3);
        Assert.Equal(Ints(trace.GetProperty("argmax_target_of_first_10_source")).Select(v => (long)v), match.BestTargetOfSource.Take(10));

        foreach (var f in features.Concat(targetFeatures)) f.Dispose();
    }

    [SkippableFact]
    public void Gaussian_matches_trace()
    {
        var expected = Trace().GetProperty("gaussian7");
        using var g = Matching.RegularizedHoughMatching.GaussianKernel(7);
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 7; x++)
                Assert.InRange(g[y, x].ToDouble(), expected[y][x].GetDouble() - 1e-6, expected[y][x].GetDouble() + 1e-6); // trace rounds to 6 places
    }

    private static IEnumerable<int> Ints(JsonElement e) => e.EnumerateArray().Select(v => (int)v.GetDouble()).ToArray();

    private static void AssertBox(JsonElement expected, Hyperpixels.Box box) =>
        Assert.Equal(Ints(expected), new[] { (int)box.X1, (int)box.Y1, (int)box.X2, (int)box.Y2 });

    private static void AssertClose(double expected, double actual, double relative) =>
        Assert.InRange(actual, expected - relative * Math.Abs(expected), expected + relative * Math.Abs(expected));
}
