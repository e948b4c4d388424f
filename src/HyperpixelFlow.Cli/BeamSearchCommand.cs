using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary><c>hpf beamsearch</c>: the paper's beam search of hyperpixel layers on a validation split, resumable.</summary>
internal static class BeamSearchCommand
{
    public static Command Create()
    {
        var benchmark = new DatasetOptions(defaultSplit: "val");
        var beam = new Option<int>("--beam") { Description = "combinations kept per depth", DefaultValueFactory = _ => 4 };
        var depth = new Option<int>("--depth") { Description = "largest number of layers", DefaultValueFactory = _ => 8 };
        var alpha = new Option<double>("--alpha") { Description = "PCK alpha of the score", DefaultValueFactory = _ => 0.1 };
        var log = new Option<string?>("--log") { Description = "JSON-lines log of scored combinations (resumes from it)" };
        var knobs = new Option<bool>("--knobs")
        {
            Description = "then search the method's knobs with the best layers, knob after knob (matching, OT epsilon and plan exponent, " +
                "soft-argmax radius, target flip, scales, and last the working side: as started, 300, 400), each a full evaluation kept under hpf-results/knobs-*/ (resumable)",
        };
        var common = new CommonOptions();
        var command = new Command("beamsearch", "choose hyperpixel layers by beam search on a validation split");
        benchmark.AddTo(command);   // the required options first in the help
        foreach (var option in new Option[] { beam, depth, alpha, log, knobs }) command.Options.Add(option);
        common.AddTo(command);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var data = benchmark.Load(r);
            var options = DatasetOptions.MatcherOptions(common, r, data);
            // Layers are scored on the finest grid of both images (BeamSearch refuses others): the default's coarser
            // target grid gives way unless asked for.
            if (r.GetResult(common.TargetHyperpixelStride) is null or { Implicit: true })
                options = options with { Hyperpixels = options.Hyperpixels with { TargetStride = 0 } };
            using var matcher = new HyperpixelMatcher(options);
            var search = new BeamSearch(matcher, data, r.GetValue(alpha), benchmark.ParseThreshold(r));
            string logPath = r.GetValue(log) ?? Path.Combine("hpf-results",
                $"beamsearch-{data.Name}-{data.Split}-{matcher.Backbone.Name}-s{matcher.Options.Image.MaxSide}-{matcher.Options.Matching.Name}-b{r.GetValue(beam)}-d{r.GetValue(depth)}-" +
                $"{search.SettingsFor(r.GetValue(beam), r.GetValue(depth)).Evaluation.Fingerprint()}.jsonl");
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(logPath))!);
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            var watch = Stopwatch.StartNew();
            AnsiConsole.MarkupLine($"beam search on {data.Name}/{data.Split} ({data.Pairs.Count} pairs), {matcher.Backbone.Name}, log {Markup.Escape(logPath)}");
            var best = search.Run(r.GetValue(beam), r.GetValue(depth), logPath, (c, cached) =>
                AnsiConsole.MarkupLine($"  depth {c.Depth}  layers {string.Join(",", c.Layers),-22} PCK {c.Score:0.00}{(cached ? "  (from log)" : "")}  [grey]{watch.Elapsed:hh\\:mm\\:ss}[/]"),
                cancel.Token);
            double perRun = search.BackboneRuns == 0 ? 0 : search.BackboneSeconds / search.BackboneRuns;
            AnsiConsole.MarkupLine($"[bold green]best[/]: layers {string.Join(",", best.Layers)}  PCK@{r.GetValue(alpha)} {best.Score:0.00}");
            AnsiConsole.MarkupLine($"{search.CandidatesScored} combinations scored in {watch.Elapsed:hh\\:mm\\:ss}; backbone ran {search.BackboneRuns} times " +
                $"({search.BackboneSeconds:0.0} s); without the per-image cache it would have run {2L * search.CandidatesScored * data.Pairs.Count} times " +
                $"(~{2.0 * search.CandidatesScored * data.Pairs.Count * perRun:0} s)");
            if (!cancel.IsCancellationRequested && r.GetValue(knobs))
            {
                var start = matcher.Options.WithLayers(best.Layers);
                string folder = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(logPath))!,
                    $"knobs-{data.Name}-{data.Split}-{matcher.Backbone.Name}-L{string.Join("-", best.Layers)}");
                AnsiConsole.MarkupLine($"knob search with layers {string.Join(",", best.Layers)}, results under {Markup.Escape(folder)}");
                var knobSearch = new KnobSearch(o => new HyperpixelMatcher(matcher.Backbone, o), data, r.GetValue(alpha), benchmark.ParseThreshold(r));
                var (chosen, _) = knobSearch.Run(start, KnobSearch.DefaultKnobs, folder, score =>
                    AnsiConsole.MarkupLine($"  {Markup.Escape(score.Configuration),-110} PCK {score.Score:0.00}  {score.SecondsPerPair:0.000} s/pair  [grey]{watch.Elapsed:hh\\:mm\\:ss}[/]"),
                    cancel.Token);
                AnsiConsole.MarkupLine($"[bold green]chosen[/]: layers {string.Join(",", chosen.Hyperpixels.Layers!)}, max side {chosen.Image.MaxSide}, {Markup.Escape(chosen.DescribeMethod())}");
            }
            Console.CancelKeyPress -= onCancel;
            if (cancel.IsCancellationRequested)
            {
                AnsiConsole.MarkupLine("[yellow]interrupted[/]; run the same command again to continue");
                return 130;
            }
            return 0;
        }));
        return command;
    }
}
