using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using HyperpixelFlow.Reference;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Matching;
using Spectre.Console;
using static TorchSharp.torch;

namespace HyperpixelFlow.Cli;

/// <summary>
/// <c>hpf bench</c>: per-stage timings of real pairs (medians and spread), end-to-end seconds per pair cold (every
/// image through the backbone) and warm (features of both images cached), peak memory and the throughput of an
/// evaluation with the per-image cache.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var datapath = new Option<string>("--datapath") { Description = "PF-WILLOW root (its test_pairs.csv is used)", Required = true };
        var pairs = new Option<int>("--pairs") { Description = "number of pairs (the first N)", DefaultValueFactory = _ => 20 };
        var repeat = new Option<int>("--repeat") { Description = "passes over the pairs (medians over all)", DefaultValueFactory = _ => 3 };
        var json = new Option<string?>("--json") { Description = "write the figures as JSON here" };
        var baseline = new Option<bool>("--baseline")
        {
            Description = "also time the paper code's formulation on this machine (module backbone, dense hyperpixels, " +
                "dense similarity, pairwise Hough voting) and report the speed-up",
        };
        var common = new CommonOptions();
        var command = new Command("bench", "time the pipeline stage by stage on real pairs") { datapath, pairs, repeat, json, baseline };
        common.AddTo(command);
        command.SetAction(r => CliErrors.Run(() => Run(r.GetValue(datapath)!, r.GetValue(pairs), r.GetValue(repeat), r.GetValue(json),
            r.GetValue(baseline), common.Parse(r))));
        return command;
    }

    private static readonly string[] Stages = ["decode", "resize", "backbone", "hyperpixels", "similarity", "voting", "transfer"];

    private static int Run(string root, int pairCount, int repeat, string? jsonPath, bool baseline, HyperpixelFlowOptions options)
    {
        if (pairCount < 1 || repeat < 1) throw new HyperpixelFlowException("--pairs and --repeat must be at least 1");
        var dataset = PfWillowDataset.Load(root);
        var pairs = dataset.Pairs.Take(pairCount).ToList();
        using var matcher = new HyperpixelMatcher(options);
        AnsiConsole.MarkupLine($"bench: {pairs.Count} pairs x {repeat}, {matcher.Backbone.Name} layers {string.Join(",", matcher.Layers)}, " +
            $"{get_num_threads()} threads{options.Hyperpixels.DescribeGrids()}, " +
            $"max side {options.Image.MaxSide}{(options.Image.Upscale ? " (upscale)" : "")}, {Markup.Escape(options.DescribeMethod())}");
        Cold(matcher, pairs[0]); // warm-up: JIT, allocator, kernel selection

        var stageTimes = Stages.ToDictionary(s => s, _ => new List<double>());
        var cold = new List<double>();
        var warm = new List<double>();
        for (int r = 0; r < repeat; r++)
            foreach (var pair in pairs)
            {
                var timings = Cold(matcher, pair);
                foreach (var (stage, seconds) in timings) stageTimes[stage].Add(seconds);
                cold.Add(timings.Values.Sum());
            }
        using (var cache = new LruCache<string, ImageDescription>(2 * pairs.Count + 2))
            for (int r = 0; r < repeat + 1; r++)
                foreach (var pair in pairs)
                {
                    var source = cache.GetOrAdd(pair.SourceImage, matcher.Describe);
                    var target = cache.GetOrAdd(pair.TargetImage, matcher.Describe);
                    var watch = Stopwatch.StartNew();
                    Predict(matcher, pair, source, target, null);
                    if (r > 0) warm.Add(watch.Elapsed.TotalSeconds); // pass 0 fills the cache
                }
        var evalWatch = Stopwatch.StartNew();
        string results = Path.Combine(Path.GetTempPath(), $"hpf-bench-{Environment.ProcessId}.jsonl");
        new Evaluator(matcher).Run(dataset with { Pairs = pairs }, [0.1], PckThreshold.Auto, results, restart: true);
        double evalPairsPerSecond = pairs.Count / evalWatch.Elapsed.TotalSeconds;
        File.Delete(results);
        double peakRssMb = PeakRssMb();   // before the baseline, whose N x M and N x bins tensors would dominate it

        // The baseline runs after, pair by pair alternating with this pipeline, so that both see the same machine load.
        var paperStageTimes = Stages.ToDictionary(s => s, _ => new List<double>());
        var paperCold = new List<double>();
        var alternateCold = new List<double>();
        if (baseline)
        {
            ColdPaperFormulation(matcher, pairs[0]);
            for (int r = 0; r < repeat; r++)
                foreach (var pair in pairs)
                {
                    var timings = ColdPaperFormulation(matcher, pair);
                    foreach (var (stage, seconds) in timings) paperStageTimes[stage].Add(seconds);
                    paperCold.Add(timings.Values.Sum());
                    alternateCold.Add(Cold(matcher, pair).Values.Sum());
                }
        }

        var table = new Table().AddColumns("stage", "median s", "p10 s", "p90 s");
        if (baseline) table.AddColumns("paper formulation median s", "speed-up");
        void Row(string name, List<double> values, List<double>? paper)
        {
            var cells = new List<string> { name, F(Median(values)), F(Percentile(values, 0.1)), F(Percentile(values, 0.9)) };
            if (baseline) cells.AddRange(paper is null ? ["", ""] : [F(Median(paper)), $"{Median(paper) / Median(values):0.0}x"]);
            table.AddRow(cells.ToArray());
        }
        foreach (var (stage, values) in stageTimes) Row(stage, values, baseline ? paperStageTimes[stage] : null);
        Row("cold pair", cold, baseline ? paperCold : null);
        Row("warm pair", warm, null);
        AnsiConsole.Write(table);
        double? speedup = baseline ? Median(paperCold) / Median(alternateCold) : null;
        if (speedup is { } x)
            AnsiConsole.MarkupLine($"cold pair vs the paper formulation, alternating pair by pair: {F(Median(alternateCold))} s vs " +
                $"{F(Median(paperCold))} s = [bold]{x:0.0}x[/]");
        AnsiConsole.MarkupLine($"evaluation with feature cache: {evalPairsPerSecond:0.00} pairs/s; peak RSS {peakRssMb:0} MB");
        if (jsonPath is not null)
        {
            var figures = new
            {
                pairs = pairs.Count,
                repeat,
                threads = get_num_threads(),
                backbone = matcher.Backbone.Name,
                layers = matcher.Layers,
                options = options.ResultSettings(),
                hyperpixel_stride = options.Hyperpixels.Stride,
                target_hyperpixel_stride = options.Hyperpixels.TargetStride,
                cold_pair_s = Median(cold),
                warm_pair_s = Median(warm),
                stages_median_s = stageTimes.ToDictionary(kv => kv.Key, kv => Median(kv.Value)),
                stages_p10_s = stageTimes.ToDictionary(kv => kv.Key, kv => Percentile(kv.Value, 0.1)),
                stages_p90_s = stageTimes.ToDictionary(kv => kv.Key, kv => Percentile(kv.Value, 0.9)),
                eval_pairs_per_s = evalPairsPerSecond,
                peak_rss_mb = peakRssMb,
                baseline_cold_pair_s = baseline ? Median(paperCold) : (double?)null,
                baseline_stages_median_s = baseline ? paperStageTimes.ToDictionary(kv => kv.Key, kv => Median(kv.Value)) : null,
                cold_speedup_vs_baseline = speedup,
            };
            JsonOptions.WriteFile(jsonPath, figures);
        }
        return 0;
    }

    /// <summary>One pair from the files, no cache: the stages the original implementation's 0.42 s covers, plus decoding.</summary>
    private static IReadOnlyDictionary<string, double> Cold(HyperpixelMatcher matcher, BenchmarkPair pair)
    {
        var timer = new StageTimer();
        using var scope = NewDisposeScope();
        var sourceImage = ImageLoader.Load(pair.SourceImage, matcher.Options.Runtime.MaxImagePixels);
        var targetImage = ImageLoader.Load(pair.TargetImage, matcher.Options.Runtime.MaxImagePixels);
        timer.Lap("decode");
        using var source = matcher.Describe(sourceImage, timer);
        using var target = matcher.Describe(targetImage, timer);
        Predict(matcher, pair, source, target, timer);
        return timer.ToDictionary();
    }

    /// <summary>One pair from the files through the paper code's pipeline (<see cref="PaperReferencePipeline"/>).</summary>
    private static IReadOnlyDictionary<string, double> ColdPaperFormulation(HyperpixelMatcher matcher, BenchmarkPair pair)
    {
        var timer = new StageTimer();
        var source = ImageLoader.Load(pair.SourceImage, matcher.Options.Runtime.MaxImagePixels);
        var target = ImageLoader.Load(pair.TargetImage, matcher.Options.Runtime.MaxImagePixels);
        timer.Lap("decode");
        PaperReferencePipeline.TransferResized(matcher, source, target, pair.SourcePoints, timer);
        return timer.ToDictionary();
    }

    /// <summary>Matches two described images and transfers the pair's keypoints: what every caller of the matcher runs.</summary>
    private static void Predict(HyperpixelMatcher matcher, BenchmarkPair pair, ImageDescription source, ImageDescription target, StageTimer? timer)
    {
        var prediction = matcher.Predict(source, target, timer);
        foreach (var p in pair.SourcePoints) prediction.Transfer(p);
        timer?.Lap("transfer");
    }

    private static double PeakRssMb()
    {
        foreach (var line in File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status") : [])
            if (line.StartsWith("VmHWM:")) return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
        return Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;
    }

    internal static double Median(List<double> v) => Percentile(v, 0.5);

    internal static double Percentile(List<double> values, double q)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        double position = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(position), hi = (int)Math.Ceiling(position);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo);
    }

    private static string F(double v) => v.ToString("0.0000");
}
