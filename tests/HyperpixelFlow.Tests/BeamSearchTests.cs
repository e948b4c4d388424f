using System.Text.Json;
using HyperpixelFlow.Evaluation;

namespace HyperpixelFlow.Tests;

public class BeamSearchTests
{
    [SkippableFact]
    public void Search_extends_kept_combinations_logs_every_score_and_resumes()
    {
        var full = Datasets.LoadPfWillow(SharedData.PfWillow, "val");
        var data = full with { Pairs = full.Pairs.Take(3).ToList() };
        using var matcher = new HyperpixelMatcher();
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
