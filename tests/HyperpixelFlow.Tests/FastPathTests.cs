using System.Text.Json;

namespace HyperpixelFlow.Tests;

/// <summary>
/// The fast paths on the parity subset of PF-WILLOW: they change results, so they are held to the reference loosely:
/// most keypoints land near the exact path's and PCK stays close.
/// </summary>
public class FastPathTests
{
    /// <summary>The paper's method with the parity layers on the given grid.</summary>
    private static HyperpixelFlowOptions Paper(HyperpixelOptions grid) => Presets.Get("paper").Options with { Hyperpixels = grid with { Layers = [2, 4, 5, 6, 7] } };

    private static (double Within1px, double Within8px, double Pck, double ExactPck) Evaluate(HyperpixelFlowOptions options, string setting, int stride)
    {
        var (summary, header, pairs) = ParitySubset.Evaluate(options);
        Assert.Equal($"{stride}", JsonDocument.Parse(header).RootElement.GetProperty("settings").GetProperty("options").GetProperty(setting).GetString());
        var distances = pairs.SelectMany(p => p.DistancesToReference()).ToList();
        double within1px = (double)distances.Count(d => d <= 1) / distances.Count;
        double within8px = (double)distances.Count(d => d <= 8) / distances.Count;
        double exactPck = ParitySubset.ReferencePck(pairs);
        Console.WriteLine($"{setting} {stride}: {within1px:P1} / {within8px:P1} of keypoints within 1 / 8 px of the exact path; PCK@0.1 {summary.Pck["0.1"]:0.00} vs {exactPck:0.00}");
        return (within1px, within8px, summary.Pck["0.1"], exactPck);
    }

    [SkippableFact]
    public void Stride_8_grid_keeps_most_keypoints_near_the_exact_predictions()
    {
        var (_, within8px, pck, exactPck) = Evaluate(Paper(new() { Stride = 8 }), "Hyperpixels.Stride", 8);
        Assert.True(within8px >= 0.75, $"{within8px:P1} of keypoints within 8 px of the exact predictions");
        Assert.InRange(pck, exactPck - 5, exactPck + 5);
    }

    [SkippableFact]
    public void Stride_8_target_grid_keeps_nearly_all_keypoints_near_the_exact_predictions()
    {
        var (within1px, within8px, pck, exactPck) = Evaluate(Paper(new() { TargetStride = 8 }), "Hyperpixels.TargetStride", 8);
        Assert.True(within1px < 0.9, $"{within1px:P1} of keypoints within 1 px: the target grid was not coarsened");
        Assert.True(within8px >= 0.97, $"{within8px:P1} of keypoints within 8 px of the exact predictions");
        Assert.InRange(pck, exactPck - 3, exactPck + 3);
    }
}
