using System.Text.Json;

namespace HyperpixelFlow.Tests;

/// <summary>
/// The fast path (a coarser hyperpixel grid) on the parity subset of PF-WILLOW: it changes results, so it is held to
/// the reference loosely: most keypoints land near the exact path's and PCK stays close.
/// </summary>
public class FastPathTests
{
    [SkippableFact]
    public void Stride_8_grid_keeps_most_keypoints_near_the_exact_predictions()
    {
        var (summary, results, pairs) = ParitySubset.Evaluate(new HyperpixelFlowOptions { Layers = [2, 4, 5, 6, 7], HyperpixelStride = 8 });
        Assert.Equal(8, JsonDocument.Parse(File.ReadLines(results).First()).RootElement.GetProperty("settings").GetProperty("hyperpixel_stride").GetInt32());
        var distances = pairs.SelectMany(p => p.DistancesToReference()).ToList();
        int within8px = distances.Count(d => d <= 8);
        double exactPck = ParitySubset.ReferencePck(pairs);
        Console.WriteLine($"fast path: {within8px}/{distances.Count} keypoints within 8 px of the exact path; PCK@0.1 {summary.Pck["0.1"]:0.00} vs {exactPck:0.00}");
        Assert.True(within8px >= 0.75 * distances.Count, $"{within8px}/{distances.Count} keypoints within 8 px of the exact predictions");
        Assert.InRange(summary.Pck["0.1"], exactPck - 5, exactPck + 5);
    }
}
