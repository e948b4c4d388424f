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
        var versus = new Option<string?>("--versus-precision")
        {
            Description = "also time the same settings with the backbone in this precision (fp32 or bf16), pair by pair alternating with " +
                "the first, and report the ratio",
        };
        var common = new CommonOptions();
        var command = new Command("bench", "time the pipeline stage by stage on real pairs") { datapath, pairs, repeat, json, baseline, versus };
        common.AddTo(command);
        command.SetAction(r => CliErrors.Run(() => Run(r.GetValue(datapath)!, r.GetValue(pairs), r.GetValue(repeat), r.GetValue(json),
            r.GetValue(baseline), r.GetValue(versus), common.Parse(r))));
        return command;
    }

    private static readonly string[] Stages = ["decode", "resize", "backbone", "hyperpixels", "similarity", "voting", "transfer"];

    /// <summary>What one bench run measured: per-stage and whole-pair times, evaluation throughput, memory, the baseline.</summary>
    private sealed class Figures
    {
        public Dictionary<string, List<double>> Stages { get; } = BenchCommand.Stages.ToDictionary(s => s, _ => new List<double>());
        public List<double> Cold { get; } = [];
        public List<double> Warm { get; } = [];
        public double EvaluationPairsPerSecond { get; set; }
        /// <summary>The backbone's work on a pair's two images at the working size, mean over the pairs; null for a backbone that cannot count it.</summary>
        public double? BackboneGigaFlopsPerPair { get; set; }
        public double? BackboneGigaFlopsPerSecond => BackboneGigaFlopsPerPair / Median(Stages["backbone"]);
        public double PeakRssMb { get; set; }
        public Dictionary<string, List<double>> PaperStages { get; } = BenchCommand.Stages.ToDictionary(s => s, _ => new List<double>());
        public List<double> PaperCold { get; } = [];
        public List<double> AlternateCold { get; } = [];
        /// <summary>--versus-precision: cold pairs and backbone times of both settings, alternating pair by pair.</summary>
        public (List<double> Cold, List<double> Backbone, List<double> OtherCold, List<double> OtherBackbone) Versus { get; } = ([], [], [], []);
    }

    private static int Run(string root, int pairCount, int repeat, string? jsonPath, bool baseline, string? versusPrecision, HyperpixelFlowOptions options)
    {
        if (pairCount < 1 || repeat < 1) throw new HyperpixelFlowException("--pairs and --repeat must be at least 1");
        var dataset = PfWillowDataset.Load(root);
        var pairs = dataset.Pairs.Take(pairCount).ToList();
        using var matcher = new HyperpixelMatcher(options);
        AnsiConsole.MarkupLine($"bench: {pairs.Count} pairs x {repeat}, {matcher.Backbone.Name} layers {string.Join(",", matcher.Layers)}, " +
            $"{get_num_threads()} threads{options.Hyperpixels.DescribeGrids()}, " +
            $"max side {options.Image.MaxSide}{(options.Image.Upscale ? " (upscale)" : "")}, {Markup.Escape(options.DescribeMethod())}");
        Cold(matcher, pairs[0]); // warm-up: JIT, allocator, kernel selection
        var figures = new Figures();
        MeasureCold(matcher, pairs, repeat, figures);
        figures.BackboneGigaFlopsPerPair = BackboneWork(matcher, pairs);
        MeasureWarm(matcher, pairs, repeat, figures);
        MeasureEvaluation(matcher, dataset with { Pairs = pairs }, figures);
        figures.PeakRssMb = PeakRssMb();   // before the baseline, whose N x M and N x bins tensors would dominate it
        if (baseline) MeasureBaseline(matcher, pairs, repeat, figures);
        var versusOptions = versusPrecision is null ? null : options with { Hyperpixels = options.Hyperpixels with { Precision = versusPrecision } };
        if (versusOptions is not null) MeasureVersus(matcher, versusOptions, pairs, repeat, figures);
        Report(figures, baseline);
        if (versusOptions is not null) ReportVersus(figures, options.Hyperpixels.Precision, versusOptions.Hyperpixels.Precision);
        if (jsonPath is not null) WriteJson(jsonPath, figures, baseline, pairs.Count, repeat, matcher, options);
        return 0;
    }

    /// <summary>Mean GFLOP of the backbone per pair (both images at their working size); null when the backbone cannot count them.</summary>
    private static double? BackboneWork(HyperpixelMatcher matcher, IReadOnlyList<BenchmarkPair> pairs)
    {
        var bySize = new Dictionary<(int, int), double?>();
        double? Image(string path)
        {
            var image = ImageLoader.Load(path, matcher.Options.Runtime.MaxImagePixels);
            using var prepared = PreparedImage.From(image, matcher.Options.Image.MaxSide, upscale: matcher.Options.Image.Upscale);
            var size = (prepared.Width, prepared.Height);
            if (!bySize.TryGetValue(size, out var gflop)) bySize[size] = gflop = matcher.Backbone.GigaFlops(size.Width, size.Height, matcher.Layers);
            return gflop;
        }
        var perPair = pairs.Select(p => Image(p.SourceImage) + Image(p.TargetImage)).ToList();
        return perPair.Any(w => w is null) ? null : perPair.Average(w => w!.Value);
    }

    private static void MeasureCold(HyperpixelMatcher matcher, IReadOnlyList<BenchmarkPair> pairs, int repeat, Figures figures)
    {
        for (int r = 0; r < repeat; r++)
            foreach (var pair in pairs)
            {
                var timings = Cold(matcher, pair);
                foreach (var (stage, seconds) in timings) figures.Stages[stage].Add(seconds);
                figures.Cold.Add(timings.Values.Sum());
            }
    }

    /// <summary>Both images' hyperpixels cached: what a click on the page or a batch with one exemplar pays.</summary>
    private static void MeasureWarm(HyperpixelMatcher matcher, IReadOnlyList<BenchmarkPair> pairs, int repeat, Figures figures)
    {
        using var cache = new LruCache<string, ImageDescription>(2 * pairs.Count + 2);
        for (int r = 0; r < repeat + 1; r++)
            foreach (var pair in pairs)
            {
                var source = cache.GetOrAdd(pair.SourceImage, matcher.Describe);
                var target = cache.GetOrAdd(pair.TargetImage, matcher.Describe);
                var watch = Stopwatch.StartNew();
                Predict(matcher, pair, source, target, null);
                if (r > 0) figures.Warm.Add(watch.Elapsed.TotalSeconds); // pass 0 fills the cache
            }
    }

    private static void MeasureEvaluation(HyperpixelMatcher matcher, BenchmarkDataset dataset, Figures figures)
    {
        var watch = Stopwatch.StartNew();
        string results = Path.Combine(Path.GetTempPath(), $"hpf-bench-{Environment.ProcessId}.jsonl");
        new Evaluator(matcher).Run(dataset, [0.1], PckThreshold.Auto, results, restart: true);
        figures.EvaluationPairsPerSecond = dataset.Pairs.Count / watch.Elapsed.TotalSeconds;
        File.Delete(results);
    }

    /// <summary>The paper code's pipeline, pair by pair alternating with this one, so that both see the same machine load.</summary>
    private static void MeasureBaseline(HyperpixelMatcher matcher, IReadOnlyList<BenchmarkPair> pairs, int repeat, Figures figures)
    {
        ColdPaperFormulation(matcher, pairs[0]);
        for (int r = 0; r < repeat; r++)
            foreach (var pair in pairs)
            {
                var timings = ColdPaperFormulation(matcher, pair);
                foreach (var (stage, seconds) in timings) figures.PaperStages[stage].Add(seconds);
                figures.PaperCold.Add(timings.Values.Sum());
                figures.AlternateCold.Add(Cold(matcher, pair).Values.Sum());
            }
    }

    /// <summary>The same pairs through a matcher whose backbone computes in another precision, alternating pair by pair.</summary>
    private static void MeasureVersus(HyperpixelMatcher matcher, HyperpixelFlowOptions versusOptions, IReadOnlyList<BenchmarkPair> pairs, int repeat, Figures figures)
    {
        using var other = new HyperpixelMatcher(versusOptions);
        Cold(other, pairs[0]);
        for (int r = 0; r < repeat; r++)
            foreach (var pair in pairs)
            {
                var mine = Cold(matcher, pair);
                var theirs = Cold(other, pair);
                figures.Versus.Cold.Add(mine.Values.Sum());
                figures.Versus.Backbone.Add(mine["backbone"]);
                figures.Versus.OtherCold.Add(theirs.Values.Sum());
                figures.Versus.OtherBackbone.Add(theirs["backbone"]);
            }
    }

    private static void ReportVersus(Figures figures, string precision, string other)
    {
        var (cold, backbone, otherCold, otherBackbone) = figures.Versus;
        AnsiConsole.MarkupLine($"{precision} vs {other}, alternating pair by pair (medians): cold pair {F(Median(cold))} s vs {F(Median(otherCold))} s = " +
            $"[bold]{Median(cold) / Median(otherCold):0.00}x[/]; backbone {F(Median(backbone))} s vs {F(Median(otherBackbone))} s = " +
            $"[bold]{Median(backbone) / Median(otherBackbone):0.00}x[/]");
    }

    private static void Report(Figures figures, bool baseline)
    {
        var table = new Table().AddColumns("stage", "median s", "p10 s", "p90 s");
        if (baseline) table.AddColumns("paper formulation median s", "speed-up");
        void Row(string name, List<double> values, List<double>? paper)
        {
            var cells = new List<string> { name, F(Median(values)), F(Percentile(values, 0.1)), F(Percentile(values, 0.9)) };
            if (baseline) cells.AddRange(paper is null ? ["", ""] : [F(Median(paper)), $"{Median(paper) / Median(values):0.0}x"]);
            table.AddRow(cells.ToArray());
        }
        foreach (var (stage, values) in figures.Stages) Row(stage, values, baseline ? figures.PaperStages[stage] : null);
        Row("cold pair", figures.Cold, baseline ? figures.PaperCold : null);
        Row("warm pair", figures.Warm, null);
        AnsiConsole.Write(table);
        if (baseline)
            AnsiConsole.MarkupLine($"cold pair vs the paper formulation, alternating pair by pair: {F(Median(figures.AlternateCold))} s vs " +
                $"{F(Median(figures.PaperCold))} s = [bold]{Median(figures.PaperCold) / Median(figures.AlternateCold):0.0}x[/]");
        if (figures.BackboneGigaFlopsPerPair is { } work)
            AnsiConsole.MarkupLine($"backbone: {work:0.00} GFLOP per pair (both images), {figures.BackboneGigaFlopsPerSecond:0.0} GFLOP/s at the median");
        AnsiConsole.MarkupLine($"evaluation with feature cache: {figures.EvaluationPairsPerSecond:0.00} pairs/s; peak RSS {figures.PeakRssMb:0} MB");
    }

    private static void WriteJson(string path, Figures figures, bool baseline, int pairs, int repeat, HyperpixelMatcher matcher, HyperpixelFlowOptions options) =>
        JsonOptions.WriteFile(path, new
        {
            pairs,
            repeat,
            threads = get_num_threads(),
            backbone = matcher.Backbone.Name,
            layers = matcher.Layers,
            options = options.ResultSettings(),
            hyperpixel_stride = options.Hyperpixels.Stride,
            target_hyperpixel_stride = options.Hyperpixels.TargetStride,
            cold_pair_s = Median(figures.Cold),
            warm_pair_s = Median(figures.Warm),
            stages_median_s = figures.Stages.ToDictionary(kv => kv.Key, kv => Median(kv.Value)),
            stages_p10_s = figures.Stages.ToDictionary(kv => kv.Key, kv => Percentile(kv.Value, 0.1)),
            stages_p90_s = figures.Stages.ToDictionary(kv => kv.Key, kv => Percentile(kv.Value, 0.9)),
            eval_pairs_per_s = figures.EvaluationPairsPerSecond,
            backbone_gflop_per_pair = figures.BackboneGigaFlopsPerPair,
            backbone_gflops_per_s = figures.BackboneGigaFlopsPerSecond,
            peak_rss_mb = figures.PeakRssMb,
            baseline_cold_pair_s = baseline ? Median(figures.PaperCold) : (double?)null,
            baseline_stages_median_s = baseline ? figures.PaperStages.ToDictionary(kv => kv.Key, kv => Median(kv.Value)) : null,
            cold_speedup_vs_baseline = baseline ? Median(figures.PaperCold) / Median(figures.AlternateCold) : (double?)null,
            versus_precision = figures.Versus.Cold.Count == 0 ? null : new
            {
                cold_pair_s = Median(figures.Versus.Cold),
                backbone_s = Median(figures.Versus.Backbone),
                other_cold_pair_s = Median(figures.Versus.OtherCold),
                other_backbone_s = Median(figures.Versus.OtherBackbone),
            },
        });

    /// <summary>
    /// One pair from the files, no cache: the stages the original implementation's 0.42 s covers, plus decoding. Each
    /// image is described for its side only, as <c>hpf match</c> does (with a coarser target grid, the other side's
    /// grid would be built for nothing).
    /// </summary>
    private static IReadOnlyDictionary<string, double> Cold(HyperpixelMatcher matcher, BenchmarkPair pair)
    {
        var timer = new StageTimer();
        using var scope = NewDisposeScope();
        var sourceImage = ImageLoader.Load(pair.SourceImage, matcher.Options.Runtime.MaxImagePixels);
        var targetImage = ImageLoader.Load(pair.TargetImage, matcher.Options.Runtime.MaxImagePixels);
        timer.Lap("decode");
        using var source = matcher.Describe(sourceImage, timer, PairSide.Source);
        using var target = matcher.Describe(targetImage, timer, PairSide.Target);
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
        prediction.TransferAll(pair.SourcePoints);
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
