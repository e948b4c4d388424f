using System.Diagnostics;

namespace HyperpixelFlow.Tests;

/// <summary>An evaluation stopped midway (cancelled, or its process killed) resumes and ends with the same totals.</summary>
[Trait("Category", TestCategory.System)]
public class ResumeTests
{
    private const int Pairs = 10;

    private static BenchmarkDataset Subset() => PfWillowDataset.Load(SharedData.PfWillow);

    [Fact]
    public void Every_result_changing_option_is_recorded_and_runtime_ones_are_not()
    {
        var settings = new HyperpixelFlowOptions().ResultSettings();
        foreach (var key in new[] { "Image.MaxSide", "Image.Upscale", "Image.Scales", "Image.FlipTarget", "Hyperpixels.MarginPruning", "Hyperpixels.Stride",
                     "Hyperpixels.TargetStride", "Matching.Name", "Matching.HoughCells", "Matching.SimilarityExponent", "Matching.HoughKernelSize",
                     "Matching.OptimalTransport.Epsilon", "Matching.OptimalTransport.Iterations", "Matching.SubHyperpixelRadius", "Flow.ConsistencyFilter" })
            Assert.True(settings.ContainsKey(key), key);
        foreach (var key in new[] { "Runtime.Threads", "Runtime.Device", "Runtime.MaxSimilarityBlockBytes", "Runtime.MaxImagePixels", "Hyperpixels.WeightsPath", "Hyperpixels.Layers", "Hyperpixels.Backbone" })
            Assert.False(settings.ContainsKey(key), key);
        // Changing any recorded option changes the record and is named.
        var changed = (new HyperpixelFlowOptions { Matching = new() { HoughCells = 4096, OptimalTransport = new() { Epsilon = 0.1 } } }).ResultSettings();
        Assert.Equal(["Matching.HoughCells", "Matching.OptimalTransport.Epsilon"], settings.Keys.Where(k => settings[k] != changed[k]));
    }

    [SkippableFact]
    public void Results_of_other_data_or_options_are_refused_naming_what_differs()
    {
        var full = Subset();
        var first = full with { Pairs = full.Pairs.Take(3).ToList() };
        var other = full with { Pairs = full.Pairs.Skip(3).Take(3).ToList() };   // same dataset name and split, other pairs
        var dir = TestFolders.Create("mix");
        string results = Path.Combine(dir, "r.jsonl");
        using var matcher = new HyperpixelMatcher();
        var evaluator = new Evaluator(matcher);
        evaluator.Run(first, [0.1], PckThreshold.Auto, results);
        Assert.NotEqual(evaluator.SettingsFor(first, [0.1], PckThreshold.Auto).Fingerprint(), evaluator.SettingsFor(other, [0.1], PckThreshold.Auto).Fingerprint());

        var otherData = Assert.Throws<HyperpixelFlowException>(() => evaluator.Run(other, [0.1], PckThreshold.Auto, results));
        Assert.Contains("pair list:", otherData.Message);
        using var otherCells = new HyperpixelMatcher(matcher.Backbone, new HyperpixelFlowOptions { Matching = new() { HoughCells = 4096 } });
        var otherOptions = Assert.Throws<HyperpixelFlowException>(() => new Evaluator(otherCells).Run(first, [0.1], PckThreshold.Auto, results));
        Assert.Contains("HoughCells: 4096 vs 8192", otherOptions.Message);
        // Runtime settings do not split results: a run with other threads and block size resumes the file.
        using var runtime = new HyperpixelMatcher(matcher.Backbone, new HyperpixelFlowOptions { Runtime = new() { MaxSimilarityBlockBytes = 1 << 20 } });
        Assert.Equal(3, new Evaluator(runtime).Run(first, [0.1], PckThreshold.Auto, results).Pairs);
        Assert.Equal(4, File.ReadAllLines(results).Length);
    }

    [SkippableFact]
    public void Cancelled_then_resumed_evaluation_equals_an_uninterrupted_one()
    {
        var data = Subset();
        using var scoped = TestFolders.Scoped("resume");
        var dir = scoped.Path;
        using var matcher = new HyperpixelMatcher();
        var evaluator = new Evaluator(matcher);
        var whole = evaluator.Run(data, [0.05, 0.1], PckThreshold.Auto, Path.Combine(dir, "whole.jsonl"), Pairs);

        string resumed = Path.Combine(dir, "resumed.jsonl");
        using var cancel = new CancellationTokenSource();
        var partial = evaluator.Run(data, [0.05, 0.1], PckThreshold.Auto, resumed, Pairs,
            progress: (done, _) => { if (done >= 4) cancel.Cancel(); }, cancel: cancel.Token);
        Assert.Equal(4, partial.Pairs);
        Assert.False(partial.Complete);
        File.AppendAllText(resumed, "{\"index\": 4, \"id\": \"4\", \"categ");   // a write cut short by a kill
        var finished = evaluator.Run(data, [0.05, 0.1], PckThreshold.Auto, resumed, Pairs);

        Assert.True(finished.Complete);
        Assert.Equal(whole.Pck, finished.Pck);
        Assert.Equal(Pairs + 1, File.ReadAllLines(resumed).Length);  // header + one line per pair, nothing twice
        var other = Assert.Throws<HyperpixelFlowException>(() => evaluator.Run(data, [0.2], PckThreshold.Auto, resumed, Pairs));
        Assert.Contains("another run", other.Message);
    }

    /// <summary>Runs hpf and kills it as soon as its results file holds a first item (header + one line); gives the lines then.</summary>
    internal static int KillOnceLogged(string[] args, string results)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hpf.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        // A killed process cannot remove its runtime's debugger pipes and diagnostic socket: they go to the test's folder.
        info.Environment["TMPDIR"] = Path.GetDirectoryName(Path.GetFullPath(results))!;
        using (var process = Process.Start(info)!)
        {
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while ((!File.Exists(results) || File.ReadAllLines(results).Length < 2) && DateTime.UtcNow < deadline && !process.HasExited) Thread.Sleep(20);
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        return File.ReadAllLines(results).Length;
    }

    [SkippableFact]
    public void Killed_cli_evaluation_resumes_to_the_same_summary()
    {
        string root = SharedData.PfWillow;
        var dir = TestFolders.Create("kill");
        string results = Path.Combine(dir, "r.jsonl"), summary = Path.Combine(dir, "s.json");
        // Enough pairs that the run cannot finish between two polls (each pair takes tens of milliseconds), killed as
        // soon as one pair is logged: the kill always lands midway, however loaded the machine.
        const int pairs = 30;
        string[] args = ["evaluate", "--dataset", "pfwillow", "--datapath", root, "--limit", $"{pairs}", "--results", results, "--summary", summary];

        int linesAfterKill = KillOnceLogged(args, results);
        Assert.InRange(linesAfterKill, 2, pairs);   // stopped midway with some pairs logged

        var run = CliTests.Hpf(args);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal(pairs + 1, File.ReadAllLines(results).Length);

        using var matcher = new HyperpixelMatcher();
        var expected = new Evaluator(matcher).Run(Subset(), [0.05, 0.1, 0.15], PckThreshold.Auto, Path.Combine(dir, "ref.jsonl"), pairs);
        var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(summary)).RootElement.GetProperty("pck");
        foreach (var (alpha, value) in expected.Pck) Assert.Equal(value, json.GetProperty(alpha).GetDouble(), 9);
    }
}
