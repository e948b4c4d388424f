using System.Text.Json;

namespace HyperpixelFlow.Tests;

/// <summary>
/// Parity on images larger than the working side: the SPair-71k sample pairs are 500 px, so both images are resized
/// (ratio 0.6) before matching; the original implementation's predictions for them are in ../shared/reference.
/// </summary>
[Trait("Category", TestCategory.Data)]
public class SpairParityTests
{
    public static TheoryData<string> LayerSets => new() { "2,4,5,6,7", "1,3,4,5,6,8" };

    private static (BenchmarkDataset Data, Dictionary<string, JsonElement> Reference, HyperpixelFlowOptions Options) Load(string layers)
    {
        var data = DatasetRegistry.Load("spair", SharedData.SpairSample);
        var file = Path.Combine(SharedData.Reference, $"spair_sample_resnet18cntk_L{layers.Replace(',', '-')}.json");
        var reference = JsonDocument.Parse(File.ReadAllText(file)).RootElement.EnumerateArray()
            .ToDictionary(e => e.GetProperty("pair").GetString()!, e => e.Clone());
        Assert.Equal(2, data.Pairs.Count);
        return (data, reference, Presets.Get("paper").Options.WithLayers(layers.Split(',').Select(int.Parse).ToList()));
    }

    private static void AssertWithinOnePixel(IReadOnlyList<Flow.Point2> predicted, JsonElement expected, string what)
    {
        var points = expected.GetProperty("predicted_target_original_px").EnumerateArray().ToList();
        Assert.Equal(points.Count, predicted.Count);
        for (int k = 0; k < points.Count; k++)
        {
            double d = Math.Sqrt(Math.Pow(predicted[k].X - points[k][0].GetDouble(), 2) + Math.Pow(predicted[k].Y - points[k][1].GetDouble(), 2));
            Assert.True(d <= 1, $"{what}: keypoint {k + 1} is {d:0.00} px from the reference");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(LayerSets))]
    public void Evaluator_reproduces_the_original_predictions_and_pck_on_resized_pairs(string layers)
    {
        var (data, reference, options) = Load(layers);
        using var matcher = new HyperpixelMatcher(options);
        var folder = Directory.CreateTempSubdirectory("hpf-spair-");
        try
        {
            var results = Path.Combine(folder.FullName, "r.jsonl");
            new Evaluator(matcher).Run(data, [0.05, 0.1, 0.15], PckThreshold.Auto, results);
            foreach (var line in File.ReadAllLines(results).Skip(1).Select(l => JsonDocument.Parse(l).RootElement))
            {
                var pair = data.Pairs[line.GetProperty("index").GetInt32()];
                var expected = reference[pair.Id];
                float ratio = expected.GetProperty("resize_ratio_target").GetSingle();
                Assert.Equal(0.6f, ratio, 5);
                var predicted = line.GetProperty("predicted").EnumerateArray().Select(p => new Flow.Point2(p[0].GetDouble() / ratio, p[1].GetDouble() / ratio)).ToList();
                AssertWithinOnePixel(predicted, expected, $"evaluator, pair {pair.Id}");
                foreach (var alpha in new[] { "0.05", "0.1", "0.15" })
                    Assert.Equal(expected.GetProperty("pck").GetProperty(alpha).GetDouble(),
                        (double)line.GetProperty("correct").GetProperty(alpha).GetInt32() / pair.SourcePoints.Count, 5);
            }
        }
        finally { folder.Delete(recursive: true); }
    }

    [SkippableTheory]
    [MemberData(nameof(LayerSets))]
    public void Match_reproduces_the_original_predictions_in_original_pixels(string layers)
    {
        var (data, reference, options) = Load(layers);
        using var matcher = new HyperpixelMatcher(options);
        foreach (var pair in data.Pairs)
        {
            var result = matcher.Match(pair.SourceImage, pair.TargetImage, pair.SourcePoints);
            var d = result.Diagnostics;
            Assert.Equal(300, Math.Max(d.ResizedTargetWidth, d.ResizedTargetHeight));   // 500 px images: resized
            Assert.Equal(300, Math.Max(d.ResizedSourceWidth, d.ResizedSourceHeight));
            AssertWithinOnePixel(result.Points.Select(p => p.Target).ToList(), reference[pair.Id], $"Match(), pair {pair.Id}");
        }
    }
}
