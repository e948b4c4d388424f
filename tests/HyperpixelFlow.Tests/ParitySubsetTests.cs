using HyperpixelFlow.Reference;
using HyperpixelFlow.Kernels;
using System.Text.Json;

namespace HyperpixelFlow.Tests;

/// <summary>
/// A spread of PF-WILLOW test pairs (every 30th of 900) evaluated with given options, each logged pair beside the
/// original implementation's record of it (`../shared/reference`, layers 2,4,5,6,7).
/// </summary>
internal static class ParitySubset
{
    public sealed record PairRecord(BenchmarkPair Pair, JsonElement Logged, JsonElement Reference)
    {
        /// <summary>Distance (resized-target pixels) of every predicted keypoint from the reference's prediction.</summary>
        public IEnumerable<double> DistancesToReference()
        {
            var predicted = Logged.GetProperty("predicted").EnumerateArray().ToList();
            var expected = Reference.GetProperty("pred_xy").EnumerateArray().ToList();
            Assert.Equal(expected.Count, predicted.Count);
            return predicted.Zip(expected, (p, e) =>
                Math.Sqrt(Math.Pow(p[0].GetDouble() - e[0].GetDouble(), 2) + Math.Pow(p[1].GetDouble() - e[1].GetDouble(), 2)));
        }
    }

    public static (EvaluationSummary Summary, string ResultsHeader, List<PairRecord> Pairs) Evaluate(HyperpixelFlowOptions options)
    {
        var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(SharedData.Reference, "pfwillow_resnet18cntk_L2-4-5-6-7.json")))
            .RootElement.GetProperty("pairs");
        var full = PfWillowDataset.Load(SharedData.PfWillow);
        Assert.Equal(900, full.Pairs.Count);
        var subset = full with { Pairs = full.Pairs.Where((_, i) => i % 30 == 0).ToList() };
        using var matcher = new HyperpixelMatcher(options);
        using var dir = TestFolders.Scoped("subset");
        string results = Path.Combine(dir.Path, "r.jsonl");
        var summary = new Evaluator(matcher).Run(subset, [0.1], PckThreshold.Auto, results);
        var lines = File.ReadAllLines(results);
        var pairs = lines.Skip(1).Select(l => JsonSerializer.Deserialize<JsonElement>(l)).Select(line =>
        {
            var pair = subset.Pairs[line.GetProperty("index").GetInt32()];
            return new PairRecord(pair, line, reference[int.Parse(pair.Id)]);
        }).ToList();
        Assert.Equal(subset.Pairs.Count, pairs.Count);
        return (summary, lines[0], pairs);
    }

    /// <summary>The reference's PCK@0.1 (percent) over the same pairs.</summary>
    public static double ReferencePck(List<PairRecord> pairs) => 100 * pairs.Average(p => p.Reference.GetProperty("pck@0.1").GetDouble());
}

/// <summary>Parity with the original implementation's outputs on the subset.</summary>
[Trait("Category", TestCategory.Data)]
public class ParitySubsetTests
{
    [SkippableFact]
    public void Predicted_keypoints_and_pck_match_the_reference()
    {
        var (summary, _, pairs) = ParitySubset.Evaluate(Presets.Get("paper").Options.WithLayers([2, 4, 5, 6, 7]));
        foreach (var record in pairs)
            Assert.Equal(record.Reference.GetProperty("src").GetString()!.Split('/', 2)[1],
                Path.GetRelativePath(SharedData.PfWillow, record.Pair.SourceImage));
        var distances = pairs.SelectMany(p => p.DistancesToReference()).ToList();
        int within1px = distances.Count(d => d <= 1);
        Assert.Equal(30, pairs.Count);
        Assert.True(within1px >= 0.97 * distances.Count, $"{within1px}/{distances.Count} keypoints within 1 px of the reference");
        double theirs = ParitySubset.ReferencePck(pairs);
        Assert.InRange(summary.Pck["0.1"], theirs - 1.0, theirs + 1.0);
    }
}

/// <summary>The paper code's pipeline in the library (what bench --baseline times) against the original code's outputs.</summary>
[Trait("Category", TestCategory.Data)]
public class PaperReferencePipelineTests
{
    [SkippableFact]
    public void Reference_pipeline_reproduces_the_original_predictions_and_agrees_with_the_fused_pipeline()
    {
        var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(SharedData.Reference, "pfwillow_resnet18cntk_L2-4-5-6-7.json")))
            .RootElement.GetProperty("pairs");
        var data = PfWillowDataset.Load(SharedData.PfWillow);
        using var matcher = new HyperpixelMatcher(Presets.Get("paper").Options.WithLayers([2, 4, 5, 6, 7]));
        int within1px = 0, total = 0, agreeing = 0;
        foreach (int index in new[] { 0, 300, 600 })
        {
            var pair = data.Pairs[index];
            var (s, t) = (Imaging.ImageLoader.Load(pair.SourceImage), Imaging.ImageLoader.Load(pair.TargetImage));
            var predicted = HyperpixelFlow.Reference.PaperReferencePipeline.TransferResized(matcher, s, t, pair.SourcePoints);
            using var ds = matcher.Describe(s);
            using var dt = matcher.Describe(t);
            var fused = Evaluator.PredictResized(matcher, ds, dt, pair.SourcePoints);
            var expected = reference[int.Parse(pair.Id)].GetProperty("pred_xy").EnumerateArray().ToList();
            for (int k = 0; k < predicted.Count; k++, total++)
            {
                if (Math.Sqrt(Math.Pow(predicted[k].X - expected[k][0].GetDouble(), 2) + Math.Pow(predicted[k].Y - expected[k][1].GetDouble(), 2)) <= 1) within1px++;
                if (Math.Sqrt(Math.Pow(predicted[k].X - fused[k].X, 2) + Math.Pow(predicted[k].Y - fused[k].Y, 2)) <= 1) agreeing++;
            }
        }
        Assert.Equal(30, total);
        Assert.True(within1px >= 29, $"{within1px}/{total} keypoints within 1 px of the original code");
        Assert.True(agreeing >= 29, $"{agreeing}/{total} keypoints within 1 px of the fused pipeline");
    }
}
