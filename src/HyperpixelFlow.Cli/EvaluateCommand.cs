using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary><c>hpf evaluate</c>: PCK (or LT-ACC / IoU) of a backbone and layer set on a benchmark split, resumable.</summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var benchmark = new DatasetOptions(defaultSplit: "test");
        var alpha = new Option<string>("--alpha") { Description = "PCK alphas", DefaultValueFactory = _ => "0.05,0.1,0.15" };
        var limit = new Option<int?>("--limit") { Description = "evaluate only the first N pairs" };
        var results = new Option<string?>("--results") { Description = "JSON-lines results file [default: named after the settings, under ./hpf-results]" };
        var summary = new Option<string?>("--summary") { Description = "write the summary JSON here" };
        var restart = new Option<bool>("--restart") { Description = "discard earlier results in the results file instead of resuming" };
        var shard = CommonOptions.ShardOption();
        var common = new CommonOptions();
        var command = new Command("evaluate", "evaluate on a benchmark (PCK; LT-ACC and IoU for Caltech-101), resumable");
        benchmark.AddTo(command);   // the required options first in the help
        foreach (var option in new Option[] { alpha, limit, results, summary, restart, shard }) command.Options.Add(option);
        common.AddTo(command);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var data = benchmark.Load(r);
            return Run(data, DatasetOptions.MatcherOptions(common, r, data), ParseAlphas(r.GetValue(alpha)!), benchmark.ParseThreshold(r), r.GetValue(limit),
                r.GetValue(results), r.GetValue(summary), r.GetValue(restart), Shard.Parse(r.GetValue(shard)!));
        }));
        return command;
    }

    public static IReadOnlyList<double> ParseAlphas(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(a => double.TryParse(a, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0
            ? v : throw new HyperpixelFlowException($"--alpha: '{a}' is not a positive number")).ToList();

    private static int Run(BenchmarkDataset data, HyperpixelFlowOptions options, IReadOnlyList<double> alphas, PckThreshold threshold,
        int? limit, string? resultsPath, string? summaryPath, bool restart, Shard shard)
    {
        if (limit is < 1) throw new HyperpixelFlowException("--limit must be at least 1");
        using var matcher = new HyperpixelMatcher(options);
        var evaluator = new Evaluator(matcher);
        var settings = evaluator.SettingsFor(data, alphas, threshold);
        // The name says what a person needs to find a run; the fingerprint makes different settings never share a file.
        resultsPath ??= Path.Combine("hpf-results",
            $"{data.Name}-{data.Split}-{matcher.Backbone.Name}-L{string.Join("-", matcher.Layers)}-s{options.Image.MaxSide}-{options.Matching.Name.ToLowerInvariant()}-{settings.Fingerprint()}{CommonOptions.ShardSuffix(shard)}.jsonl");
        AnsiConsole.MarkupLine($"evaluating [bold]{Markup.Escape(settings.ToString())}[/]: {Markup.Escape(options.DescribeMethod())}");
        AnsiConsole.MarkupLine($"results: {Markup.Escape(resultsPath)} (re-run the same command to resume)");
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        EvaluationSummary summary;
        try
        {
            summary = Progress.Run($"{data.Name} {data.Split}{(shard.Count > 1 ? $" shard {shard}" : "")}", "pairs",
                report => evaluator.Run(data, alphas, threshold, resultsPath, limit, restart, report, shard, cancel.Token));
        }
        finally { Console.CancelKeyPress -= onCancel; }
        Report(summary);
        if (summaryPath is not null)
            WriteSummary(summary, summaryPath, resultsPath);
        if (!summary.Complete)
        {
            AnsiConsole.MarkupLine($"[yellow]interrupted[/] after {summary.Pairs}/{summary.TotalPairs} pairs; run the same command again to finish");
            return 130;
        }
        return 0;
    }

    public static void Report(EvaluationSummary summary)
    {
        var keys = summary.Settings.Alphas.Select(Evaluation.PairResult.AlphaKey).ToList();
        var table = new Table().Title($"{summary.Settings.Dataset} {summary.Settings.Split}: {summary.Pairs} pairs");
        table.AddColumn("category");
        foreach (var k in keys) table.AddColumn(new TableColumn($"PCK@{k}").RightAligned());
        foreach (var (category, pck) in summary.PckPerCategory) table.AddRow([Markup.Escape(category), .. keys.Select(k => Format(pck[k]))]);
        foreach (var (level, pck) in summary.PckPerLabelLevel) table.AddRow([Markup.Escape(level), .. keys.Select(k => Format(pck[k]))]);
        table.AddRow(["[bold]all[/]", .. keys.Select(k => $"[bold]{Format(summary.Pck[k])}[/]")]);
        if (summary.LabelTransferAccuracy is not null)
            AnsiConsole.MarkupLine($"LT-ACC {summary.LabelTransferAccuracy:0.00}  IoU {summary.IntersectionOverUnion:0.00}");
        else AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"{summary.SecondsPerPair:0.000} s per pair (mean over the logged pairs, backbone of new images included)");
        if (summary.Confidence is { } c)
            AnsiConsole.MarkupLine($"confidence (calibrated) at PCK@{c.Alpha}: AUROC {c.Auroc:0.000}, ECE {c.Ece:0.000}, right among the most confident 25/50/75 %: {c.Top25:0.0} / {c.Top50:0.0} / {c.Top75:0.0}");
        // The score exists for every evaluated keypoint: without its figures, no point was right (or none wrong) to rank.
        else if (summary.Score is null) AnsiConsole.MarkupLine($"confidence: nothing to rank (no keypoints, or all of them right or all wrong at PCK@{CalibrationFit.Alpha})");
        else AnsiConsole.MarkupLine("confidence: these settings have no calibration (hpf calibrate fits one)");
        if (summary.Score is { } s)
            AnsiConsole.MarkupLine($"score (uncalibrated ranking) at PCK@{s.Alpha}: AUROC {s.Auroc:0.000}, right among the most confident 25/50/75 %: {s.Top25:0.0} / {s.Top50:0.0} / {s.Top75:0.0}");
    }

    /// <summary>Where the risk-coverage plot of a summary goes: beside it.</summary>
    public static string RiskCoveragePath(string summaryPath) => Path.ChangeExtension(summaryPath, null) + ".risk-coverage.png";

    private static void WriteRiskCoverage(EvaluationSummary summary, string resultsPath, string path)
    {
        var results = ResultsLog<EvaluationSettings, PairResult>.ReadAll(resultsPath).Items;
        var alphas = summary.Settings.Alphas;
        var confidence = EvaluationSummary.Outcomes(results, alphas, o => o.Confidence);
        var score = EvaluationSummary.Outcomes(results, alphas, o => o.Score);
        var oracle = score.Select(p => (p.Right ? 1.0 : 0.0, p.Right)).ToList();
        RiskCoveragePlot.Write(path,
        [
            ("calibrated", new SkiaSharp.SKColor(30, 100, 220), confidence),
            ("score", new SkiaSharp.SKColor(150, 150, 150), score),
            ("oracle", new SkiaSharp.SKColor(40, 170, 70), oracle),
        ], $"{summary.Settings.Dataset} {summary.Settings.Split}: {score.Count} keypoints, PCK@{EvaluationSummary.ConfidenceAlpha(alphas)}");
    }

    private static string Format(double v) => double.IsNaN(v) ? "-" : v.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>Writes the summary JSON and, beside it, the risk-coverage plot of the results log's keypoints.</summary>
    public static void WriteSummary(EvaluationSummary summary, string path, string resultsPath)
    {
        WriteRiskCoverage(summary, resultsPath, RiskCoveragePath(path));
        var s = summary.Settings;
        var json = new
        {
            dataset = s.Dataset,
            split = s.Split,
            pairs = summary.Pairs,
            total_pairs = summary.TotalPairs,
            pair_list_sha256 = s.PairListHash,
            backbone = s.Backbone,
            weights = s.Weights,
            layers = s.Layers,
            options = s.Options,
            threshold = s.Threshold,
            pck = summary.Pck,
            pck_per_category = summary.PckPerCategory,
            pck_per_label_level = summary.PckPerLabelLevel,
            lt_acc = summary.LabelTransferAccuracy,
            iou = summary.IntersectionOverUnion,
            seconds_per_pair = summary.SecondsPerPair,
            confidence = summary.Confidence,
            score_ranking = summary.Score,
        };
        JsonOptions.WriteFile(path, json);
    }
}
