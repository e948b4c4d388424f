using System.Text.Json;

namespace HyperpixelFlow.Tests;

/// <summary>Shards of a work list, and merging their results into what one process would have written.</summary>
[Trait("Category", TestCategory.System)]
public class ShardTests
{
    private const int Pairs = 12;

    [Fact]
    public void Shards_cover_every_item_exactly_once_and_bad_specs_are_refused()
    {
        foreach (int n in new[] { 1, 2, 3, 7 })
        {
            var owners = Enumerable.Range(0, 100).Select(i => Enumerable.Range(1, n).Count(k => new Shard(k, n).Owns(i))).ToList();
            Assert.All(owners, count => Assert.Equal(1, count));
        }
        Assert.Equal(new Shard(2, 8), Shard.Parse("2/8"));
        foreach (var bad in new[] { "0/3", "4/3", "3", "a/b", "1/0", "-1/2" })
            Assert.Contains("K/N", Assert.Throws<HyperpixelFlowException>(() => Shard.Parse(bad)).Message);
    }

    [SkippableFact]
    public void Merged_shards_give_the_single_run_summary_bit_for_bit_and_gaps_duplicates_and_other_runs_are_refused()
    {
        var data = SharedData.PfWillowPairs("test", Pairs);
        var dir = TestFolders.Create("shards");
        using var matcher = new HyperpixelMatcher();
        var evaluator = new Evaluator(matcher);
        double[] alphas = [0.05, 0.1, 0.15];
        var single = evaluator.Run(data, alphas, PckThreshold.Auto, Path.Combine(dir, "single.jsonl"));
        var shards = Enumerable.Range(1, 3).Select(k => Path.Combine(dir, $"shard-{k}.jsonl")).ToList();
        for (int k = 1; k <= 3; k++)
        {
            var part = evaluator.Run(data, alphas, PckThreshold.Auto, shards[k - 1], shard: new Shard(k, 3));
            Assert.Equal(Pairs / 3, part.Pairs);
            Assert.True(part.Complete);
        }

        var (header, items) = ResultsMerge.Merge<EvaluationSettings, PairResult>(shards);
        Assert.Equal(Enumerable.Range(0, Pairs), items.Select(i => i.Index));
        var merged = EvaluationSummary.From(header.Settings, items, header.Items);
        Assert.Equal(single.Pck, merged.Pck);   // exact doubles
        Assert.Equal(single.PckPerCategory.Keys, merged.PckPerCategory.Keys);
        foreach (var (category, pck) in single.PckPerCategory) Assert.Equal(pck, merged.PckPerCategory[category]);
        string mergedPath = Path.Combine(dir, "merged.jsonl");
        ResultsMerge.Write(mergedPath, header, items);
        // The merged file is the single run's: it resumes as one (nothing to do) and compares equal line by line.
        var again = evaluator.Run(data, alphas, PckThreshold.Auto, mergedPath);
        Assert.Equal(single.Pck, again.Pck);
        var singleLines = File.ReadAllLines(Path.Combine(dir, "single.jsonl")).Skip(1).Select(Predicted);
        Assert.Equal(singleLines, File.ReadAllLines(mergedPath).Skip(1).Select(Predicted));

        var missing = Assert.Throws<HyperpixelFlowException>(() => ResultsMerge.Merge<EvaluationSettings, PairResult>(shards.Take(2).ToList()));
        Assert.Contains("no file for shard 3/3", missing.Message);
        Assert.Contains("4 of 12 items missing", missing.Message);
        var twice = Assert.Throws<HyperpixelFlowException>(() => ResultsMerge.Merge<EvaluationSettings, PairResult>([.. shards, shards[1]]));
        Assert.Contains("shard 2/3 given 2 times", twice.Message);
        Assert.Contains("4 items in more than one file", twice.Message);
        using var otherCells = new HyperpixelMatcher(matcher.Backbone, matcher.Options with { Matching = matcher.Options.Matching with { HoughCells = 4096 } });
        string other = Path.Combine(dir, "other.jsonl");
        new Evaluator(otherCells).Run(data, alphas, PckThreshold.Auto, other, shard: new Shard(3, 3));
        var mixed = Assert.Throws<HyperpixelFlowException>(() => ResultsMerge.Merge<EvaluationSettings, PairResult>([shards[0], shards[1], other]));
        Assert.Contains("not a shard of the same run", mixed.Message);
        Assert.Contains("Matching.HoughCells: 8192 vs 4096", mixed.Message);
        // Resuming a shard's file as another shard is refused too.
        var wrongShard = Assert.Throws<HyperpixelFlowException>(() => evaluator.Run(data, alphas, PckThreshold.Auto, shards[0], shard: new Shard(2, 3)));
        Assert.Contains("shard: 2/3 vs 1/3", wrongShard.Message);
    }

    private static string Predicted(string line) => JsonDocument.Parse(line).RootElement.GetProperty("predicted").GetRawText();

    [SkippableFact]
    public void Transfer_goes_past_a_broken_image_resumes_after_a_kill_and_its_shards_merge_to_the_whole_run()
    {
        var images = Directory.EnumerateFiles(Path.Combine(SharedData.PfWillow, "car(S)")).Where(f => f.EndsWith(".png")).Order().ToList();
        using var scoped = TestFolders.Scoped("transfer");
        var dir = scoped.Path;
        string broken = Path.Combine(dir, "broken.png");
        var bytes = File.ReadAllBytes(images[1]);
        File.WriteAllBytes(broken, bytes[..(bytes.Length / 3)]);
        // 3 x the folder's images with the broken one in the middle: long enough that a kill lands midway.
        var targets = Enumerable.Repeat(images, 3).SelectMany(x => x).ToList();
        targets.Insert(targets.Count / 2, broken);
        string list = Path.Combine(dir, "targets.txt");
        File.WriteAllLines(list, targets);
        string[] Args(string results, string shard) =>
            ["transfer", "--exemplar", images[0], "--points", "60,60;120,90", "--names", "nose,eye", "--targets", list, "--out", results, "--shard", shard];

        string whole = Path.Combine(dir, "whole.jsonl");
        string review = Path.Combine(dir, "review.csv");
        var run = CliTests.Hpf([.. Args(whole, "1/1"), "--summary", Path.Combine(dir, "whole.json"), "--min-confidence", "0.99", "--review", review]);
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        var lines = File.ReadAllLines(whole).Skip(1).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(targets.Count, lines.Count);
        var failed = Assert.Single(lines, l => l.TryGetProperty("error", out _));
        Assert.Equal(targets.IndexOf(broken), failed.GetProperty("index").GetInt32());
        Assert.Contains("damaged or truncated", failed.GetProperty("error").GetString());
        Assert.Contains("1 failed", run.Stdout);
        var ok = lines.First(l => l.GetProperty("index").GetInt32() == 1);
        Assert.Equal(["nose", "eye"], ok.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "whole.json"))).RootElement;
        Assert.Equal(1, summary.GetProperty("failed").GetInt32());
        // Calibrated confidence per point and expected_correct per target; the review lists the targets with a point
        // below 0.99, worst first, and the results keep every point.
        Assert.All(lines.Where(l => !l.TryGetProperty("error", out _)), l =>
        {
            Assert.InRange(l.GetProperty("expected_correct").GetDouble(), 0, 1);
            Assert.All(l.GetProperty("points").EnumerateArray(), p => Assert.InRange(p.GetProperty("confidence").GetDouble(), 0, 1));
        });
        var reviewed = File.ReadAllLines(review);
        Assert.Equal("index,target,expected_correct,points_below", reviewed[0]);
        Assert.True(reviewed.Length > 1, "some target has a point below 0.99");
        var expected = reviewed.Skip(1).Select(l => double.Parse(l.Split(',')[^2], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(expected.Order(), expected);
        Assert.Contains("review:", run.Stdout);

        // Shard 2 of 2 killed midway, then re-run: it resumes, and the two shards merge into the whole run's lines.
        string second = Path.Combine(dir, "shard2.jsonl"), first = Path.Combine(dir, "shard1.jsonl");
        int afterKill = ResumeTests.KillOnceLogged(Args(second, "2/2"), second);
        int owned = targets.Count / 2;   // the odd indices
        Assert.InRange(afterKill, 2, owned);
        Assert.Equal(0, CliTests.Hpf(Args(second, "2/2")).ExitCode);
        Assert.Equal(0, CliTests.Hpf(Args(first, "1/2")).ExitCode);
        Assert.Equal(owned + 1, File.ReadAllLines(second).Length);
        string merged = Path.Combine(dir, "merged.jsonl");
        var merge = CliTests.Hpf("merge", first, second, "--out", merged, "--summary", Path.Combine(dir, "merged.json"));
        Assert.True(merge.ExitCode == 0, merge.Stderr);
        static string Points(JsonElement l) => l.TryGetProperty("points", out var p) ? p.GetRawText() : l.GetProperty("error").GetString()!;
        Assert.Equal(lines.Select(Points), File.ReadAllLines(merged).Skip(1).Select(l => Points(JsonDocument.Parse(l).RootElement)));
        var incomplete = CliTests.Hpf("merge", first, "--out", Path.Combine(dir, "half.jsonl"));
        Assert.Equal(2, incomplete.ExitCode);
        Assert.Contains("no file for shard 2/2", incomplete.Stderr);
    }
}
