using System.Text.Json;
using HyperpixelFlow.Evaluation;

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
        var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(SharedData.Reference, "pfwillow_resnet18cntk_L2-4-5-6-7.json")))
            .RootElement.GetProperty("pairs");
        var full = Datasets.LoadPfWillow(SharedData.PfWillow);
        var subset = full with { Pairs = full.Pairs.Where((_, i) => i % 30 == 0).ToList() };
        using var matcher = new HyperpixelMatcher(new HyperpixelFlowOptions { Layers = [2, 4, 5, 6, 7], HyperpixelStride = 8 });
        string results = Path.Combine(Directory.CreateTempSubdirectory("hpf-fast-").FullName, "r.jsonl");
        var summary = new Evaluator(matcher).Run(subset, [0.1], PckThreshold.Auto, results);
        Assert.Equal(8, JsonDocument.Parse(File.ReadLines(results).First()).RootElement.GetProperty("settings").GetProperty("hyperpixel_stride").GetInt32());

        int points = 0, within8px = 0;
        double exactPck = 0;
        foreach (var line in File.ReadAllLines(results).Skip(1).Select(l => JsonSerializer.Deserialize<JsonElement>(l)))
        {
            var expected = reference[int.Parse(subset.Pairs[line.GetProperty("index").GetInt32()].Id)];
            var predicted = line.GetProperty("predicted").EnumerateArray().ToList();
            var exact = expected.GetProperty("pred_xy").EnumerateArray().ToList();
            for (int k = 0; k < predicted.Count; k++, points++)
            {
                double dx = predicted[k][0].GetDouble() - exact[k][0].GetDouble(), dy = predicted[k][1].GetDouble() - exact[k][1].GetDouble();
                if (Math.Sqrt(dx * dx + dy * dy) <= 8) within8px++;
            }
            exactPck += expected.GetProperty("pck@0.1").GetDouble();
        }
        exactPck = 100 * exactPck / subset.Pairs.Count;
        Console.WriteLine($"fast path: {within8px}/{points} keypoints within 8 px of the exact path; PCK@0.1 {summary.Pck["0.1"]:0.00} vs {exactPck:0.00}");
        Assert.True(within8px >= 0.75 * points, $"{within8px}/{points} keypoints within 8 px of the exact predictions");
        Assert.InRange(summary.Pck["0.1"], exactPck - 5, exactPck + 5);
    }
}
