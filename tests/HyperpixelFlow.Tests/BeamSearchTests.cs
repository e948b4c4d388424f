using System.Text.Json;

namespace HyperpixelFlow.Tests;

[Trait("Category", TestCategory.Data)]
public class BeamSearchTests
{
    /// <summary>The defaults on the finest grid of both images, where beam search scores layers.</summary>
    internal static HyperpixelFlowOptions FinestGrids { get; } = new() { Hyperpixels = new() { TargetStride = 0 } };

    [SkippableFact]
    public void Search_extends_kept_combinations_logs_every_score_and_resumes()
    {
        var data = SharedData.PfWillowPairs("val", 3);
        using var matcher = new HyperpixelMatcher(FinestGrids);
        string log = Path.Combine(TestFolders.Create("beam"), "beam.jsonl");
        var scored = new List<BeamCandidate>();
        var search = new BeamSearch(matcher, data, 0.1, PckThreshold.Auto);
        var best = search.Run(beam: 2, depth: 2, log, (c, _) => scored.Add(c));

        Assert.Equal(new[] { "0", "1", "2", "3" }, scored.Where(c => c.Depth == 1).Select(c => string.Join(",", c.Layers)));
        var kept = scored.Where(c => c.Depth == 1).OrderByDescending(c => c.Score).Take(2).ToList();
        var expected = kept.SelectMany(k => Enumerable.Range(0, matcher.Backbone.CandidateCount)
                .Where(id => id > k.Layers.Min() && !k.Layers.Contains(id)).Select(id => string.Join(",", k.Layers.Append(id).Order())))
            .Distinct().Order().ToList();
        Assert.Equal(expected, scored.Where(c => c.Depth == 2).Select(c => string.Join(",", c.Layers)).Order().ToList());
        Assert.Equal(scored.Max(c => c.Score), best.Score);
        Assert.Equal(search.BackboneRuns, data.Pairs.SelectMany(p => new[] { p.SourceImage, p.TargetImage }).Distinct().Count());
        Assert.Equal(scored.Count + 1, File.ReadAllLines(log).Length);
        Assert.All(File.ReadAllLines(log).Skip(1), line => JsonDocument.Parse(line).RootElement.GetProperty("score").GetDouble());

        var again = new BeamSearch(matcher, data, 0.1, PckThreshold.Auto);
        var resumed = again.Run(beam: 2, depth: 2, log);
        Assert.Equal(0, again.CandidatesScored);
        Assert.Equal(0, again.BackboneRuns);
        Assert.Equal(best.Layers, resumed.Layers);
        Assert.Equal(best.Score, resumed.Score);
        Assert.Throws<HyperpixelFlowException>(() => new BeamSearch(matcher, data, 0.05, PckThreshold.Auto).Run(2, 2, log));
    }
}

[Trait("Category", TestCategory.Data)]
public class BeamSearchRefusalTests
{
    [SkippableFact]
    public void Search_refuses_settings_it_cannot_honour_and_prepares_images_at_the_working_side()
    {
        var data = SharedData.PfWillowPairs("val", 1);
        using var plain = new HyperpixelMatcher();
        string log = Path.Combine(TestFolders.Create("beam-refuse"), "beam.jsonl");
        foreach (var options in new[] { BeamSearchTests.FinestGrids with { Image = new() { FlipTarget = true } }, BeamSearchTests.FinestGrids with { Image = new() { Scales = [1, 0.75] } } })
        {
            using var matcher = new HyperpixelMatcher(plain.Backbone, options);
            var e = Assert.Throws<HyperpixelFlowException>(() => new BeamSearch(matcher, data, 0.1, PckThreshold.Auto).Run(1, 1, log));
            Assert.Contains("leave --scales and --flip out", e.Message);
        }
        // The default's coarser target grid is refused: layers are scored on the finest grids.
        var coarse = Assert.Throws<HyperpixelFlowException>(() => new BeamSearch(plain, data, 0.1, PckThreshold.Auto).Run(1, 1, log));
        Assert.Contains("--target-stride 0", coarse.Message);
        using var upscaling = new HyperpixelMatcher(plain.Backbone, new HyperpixelFlowOptions { Image = new() { MaxSide = 400, Upscale = true } });
        using var prepared = upscaling.Prepare(Imaging.ImageLoader.Load(data.Pairs[0].SourceImage));
        Assert.Equal(400, Math.Max(prepared.Width, prepared.Height));   // PF-WILLOW images are 300 px: enlarged
    }
}

[Trait("Category", TestCategory.Data)]
public class KnobSearchTests
{
    [SkippableFact]
    public void Knobs_are_chosen_one_after_another_by_val_score_and_a_rerun_reuses_every_evaluation()
    {
        var data = SharedData.PfWillowPairs("val", 3);
        using var matcher = new HyperpixelMatcher(Presets.Get("paper").Options);
        using var scoped = TestFolders.Scoped("knobs");
        var folder = scoped.Path;
        Knob[] knobs =
        [
            new("matching", [("rhm", o => o with { Matching = o.Matching with { Name = "rhm" } }), ("ot", o => o with { Matching = o.Matching with { Name = "ot" } })]),
            new("ot epsilon", [("0.05", o => o), ("0.1", o => o with { Matching = o.Matching with { OptimalTransport = o.Matching.OptimalTransport with { Epsilon = 0.1 } } })],
                KnobSearch.UnderOptimalTransport),
            new("soft-argmax radius", [("0", o => o), ("2", o => o with { Matching = o.Matching with { SubHyperpixelRadius = 2 } })]),
        ];
        var search = new KnobSearch(o => new HyperpixelMatcher(matcher.Backbone, o), data, 0.1, PckThreshold.Auto);
        var (best, scores) = search.Run(matcher.Options.WithLayers([2, 4, 5, 6, 7]), knobs, folder);

        // Greedy: each knob's winner is kept for the next; the OT knob is only searched when OT won.
        bool otWon = scores[1].Score > scores[0].Score;
        Assert.Equal(otWon ? 6 : 4, scores.Count);
        Assert.Equal(otWon ? "ot" : "rhm", best.Matching.Name);
        var last = scores.TakeLast(2).ToList();
        Assert.Equal(last[1].Score > last[0].Score ? 2 : 0, best.Matching.SubHyperpixelRadius);
        Assert.Equal(scores.Count, File.ReadAllLines(Path.Combine(folder, "knobs.jsonl")).Length);

        var files = Directory.GetFiles(folder, "*.jsonl").Where(f => !f.EndsWith("knobs.jsonl")).ToDictionary(f => f, File.ReadAllText);
        var (again, rescored) = search.Run(matcher.Options.WithLayers([2, 4, 5, 6, 7]), knobs, folder);
        Assert.Equal(scores.Select(s => s.Score), rescored.Select(s => s.Score));
        Assert.Equal(best.ResultSettings(), again.ResultSettings());
        Assert.All(files, f => Assert.Equal(f.Value, File.ReadAllText(f.Key)));   // nothing recomputed or appended
    }
}
