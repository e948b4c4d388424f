using System.Text.Json;
using HyperpixelFlow.Evaluation;

namespace HyperpixelFlow.Tests;

/// <summary>Parity with the original implementation's outputs on a spread of PF-WILLOW pairs (every 30th of 900).</summary>
public class ParitySubsetTests
{
    [SkippableFact]
    public void Predicted_keypoints_and_pck_match_the_reference()
    {
        var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(SharedData.Reference, "pfwillow_resnet18cntk_L2-4-5-6-7.json")))
            .RootElement.GetProperty("pairs");
        var full = Datasets.LoadPfWillow(SharedData.PfWillow);
        Assert.Equal(900, full.Pairs.Count);
        var subset = full with { Pairs = full.Pairs.Where((_, i) => i % 30 == 0).ToList() };
        using var matcher = new HyperpixelMatcher(new HyperpixelFlowOptions { Layers = [2, 4, 5, 6, 7] });
        string results = Path.Combine(Directory.CreateTempSubdirectory("hpf-parity-").FullName, "r.jsonl");
        var summary = new Evaluator(matcher).Run(subset, [0.1], PckThreshold.Auto, results);

        var lines = File.ReadAllLines(results).Skip(1).Select(l => JsonSerializer.Deserialize<JsonElement>(l)).ToList();
        int points = 0, within1px = 0;
        double ours = 0, theirs = 0;
        foreach (var line in lines)
        {
            var pair = subset.Pairs[line.GetProperty("index").GetInt32()];
            var expected = reference[int.Parse(pair.Id)];
            Assert.Equal(expected.GetProperty("src").GetString()!.Split('/', 2)[1], Path.GetRelativePath(SharedData.PfWillow, pair.SourceImage));
            var predicted = line.GetProperty("predicted").EnumerateArray().ToList();
            var referencePoints = expected.GetProperty("pred_xy").EnumerateArray().ToList();
            Assert.Equal(referencePoints.Count, predicted.Count);
            for (int k = 0; k < predicted.Count; k++)
            {
                points++;
                double dx = predicted[k][0].GetDouble() - referencePoints[k][0].GetDouble();
                double dy = predicted[k][1].GetDouble() - referencePoints[k][1].GetDouble();
                if (Math.Sqrt(dx * dx + dy * dy) <= 1) within1px++;
            }
            theirs += expected.GetProperty("pck@0.1").GetDouble();
        }
        ours = summary.Pck["0.1"];
        theirs = 100 * theirs / lines.Count;
        Assert.Equal(30, lines.Count);
        Assert.True(within1px >= 0.97 * points, $"{within1px}/{points} keypoints within 1 px of the reference");
        Assert.InRange(ours, theirs - 1.0, theirs + 1.0);
    }
}
