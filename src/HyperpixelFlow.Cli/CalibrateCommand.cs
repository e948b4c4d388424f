using System.CommandLine;
using HyperpixelFlow.Calibration;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary>
/// <c>hpf calibrate</c>: fits the confidence calibration of one setting (preset or options) on a validation split and
/// writes it where the library embeds it. The evaluation it runs is an ordinary, resumable one.
/// </summary>
internal static class CalibrateCommand
{
    public static Command Create()
    {
        var benchmark = new DatasetOptions(defaultSplit: "val");
        var output = new Option<string?>("--out") { Description = "calibration file to write [default: src/HyperpixelFlow/Calibration/<preset or setting hash>.json in the repository]" };
        var results = new Option<string?>("--results") { Description = "JSON-lines results file of the evaluation [default: under ./hpf-results]" };
        var common = new CommonOptions();
        var command = new Command("calibrate", "fit the calibrated confidence (probability that a point is right) of these settings on a validation split");
        benchmark.AddTo(command);
        foreach (var option in new Option[] { output, results }) command.Options.Add(option);
        common.AddTo(command);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var data = benchmark.Load(r);
            if (data.Split == "test")
                throw new HyperpixelFlowException("calibrations are fitted on a validation split, never on test (--split val)");
            var options = DatasetOptions.MatcherOptions(common, r, data);
            return Run(data, options, r.GetValue(output), r.GetValue(results));
        }));
        return command;
    }

    private static int Run(BenchmarkDataset data, HyperpixelFlowOptions options, string? outputPath, string? resultsPath)
    {
        using var matcher = new HyperpixelMatcher(options);
        string key = matcher.CalibrationKey;
        var evaluator = new Evaluator(matcher);
        var settings = evaluator.SettingsFor(data, [CalibrationFit.Alpha], PckThreshold.Auto);
        resultsPath ??= Path.Combine("hpf-results", $"calibrate-{data.Name}-{data.Split}-{settings.Fingerprint()}.jsonl");
        AnsiConsole.MarkupLine($"calibrating [bold]{Markup.Escape(options.DescribeMethod())}[/] on {data.Name} {data.Split}; results: {Markup.Escape(resultsPath)}");
        var summary = Progress.Run($"{data.Name} {data.Split}", "pairs",
            report => evaluator.Run(data, [CalibrationFit.Alpha], PckThreshold.Auto, resultsPath, progress: report));
        var logged = ResultsLog<EvaluationSettings, PairResult>.ReadAll(resultsPath).Items.OrderBy(r => r.Index).ToList();
        string name = Presets.All.FirstOrDefault(p => ConfidenceCalibration.KeyOf(matcher.Backbone.Name, matcher.Backbone.LayersFor(p.Options), p.Options) == key)?.Name
            ?? "setting-" + Hashing.Short(key);
        var (json, crossValidated, points) = CalibrationFit.Fit(summary, logged, data.Pairs, key, $"{name}: {options.DescribeMethod()}, max side {options.Image.MaxSide}{options.Hyperpixels.DescribeGrids()}, {matcher.Backbone.Name} layers {string.Join(",", matcher.Layers)}");
        // Weights from a file: the calibration is the user's (pass it with --calibration), not one to ship.
        outputPath ??= options.Hyperpixels.WeightsPath is not null ? Path.GetFullPath(name + ".json")
            : Path.Combine(RepositoryRoot.Above(Environment.CurrentDirectory)
                ?? throw new HyperpixelFlowException("not inside the repository: pass --out FILE"), "src", "HyperpixelFlow", "Calibration", name + ".json");
        File.WriteAllText(outputPath, json);
        AnsiConsole.MarkupLine($"{points} keypoints, PCK@0.1 {summary.Pck["0.1"]:0.00}; cross-validated (5 folds by source image): AUROC {crossValidated.Auroc:0.000}, " +
            $"ECE {crossValidated.Ece:0.000}, right among the most confident 25/50/75 %: {crossValidated.Top25:0.0} / {crossValidated.Top50:0.0} / {crossValidated.Top75:0.0}");
        AnsiConsole.MarkupLine(options.Hyperpixels.WeightsPath is not null
            ? $"wrote {Markup.Escape(outputPath)}; use it with --calibration {Markup.Escape(outputPath)} (these weights, these settings only)"
            : $"wrote {Markup.Escape(outputPath)}; rebuild (./hpf does) to ship it in the library");
        return 0;
    }
}
