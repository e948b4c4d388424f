using System.CommandLine;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary>
/// <c>hpf merge</c>: the shards' results files of one <c>evaluate</c> or <c>transfer</c> run joined into the file (and
/// the summary) a single process would have written.
/// </summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var files = new Argument<string[]>("files") { Description = "the shards' JSON-lines results files", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "the merged results file", Required = true };
        var summary = new Option<string?>("--summary") { Description = "write the merged run's summary JSON here (as evaluate / transfer write it)" };
        var command = new Command("merge", "join the shards' results of one evaluate or transfer run; refuses other settings, names missing and duplicated items")
            { files, output, summary };
        command.SetAction(r => CliErrors.Run(() => Run(r.GetValue(files)!, r.GetValue(output)!, r.GetValue(summary))));
        return command;
    }

    private static int Run(string[] files, string output, string? summaryPath)
    {
        if (files.Any(f => Path.GetFullPath(f) == Path.GetFullPath(output))) throw new HyperpixelFlowException($"--out {output} is one of the inputs");
        var kinds = files.Select(f => (File: f, Kind: ResultsMerge.KindOf(f))).ToList();
        var other = kinds.FirstOrDefault(k => k.Kind != kinds[0].Kind);
        if (other.File is not null) throw new HyperpixelFlowException($"{other.File} holds {other.Kind} results, {kinds[0].File} {kinds[0].Kind} results");
        switch (kinds[0].Kind)
        {
            case Evaluator.LogKind:
            {
                var (header, items) = ResultsMerge.Merge<EvaluationSettings, PairResult>(files);
                ResultsMerge.Write(output, header, items);
                var merged = EvaluationSummary.From(header.Settings, items, header.Items);
                AnsiConsole.MarkupLine($"merged {files.Length} files: {items.Count} pairs -> {Markup.Escape(output)}");
                EvaluateCommand.Report(merged);
                if (summaryPath is not null) EvaluateCommand.WriteSummary(merged, summaryPath, output);
                return 0;
            }
            case BatchTransfer.LogKind:
            {
                var (header, items) = ResultsMerge.Merge<TransferSettings, TransferLine>(files);
                ResultsMerge.Write(output, header, items);
                var failures = BatchTransfer.FailureReasons(items.Where(i => i.Error is not null).Select(i => i.Error!));
                var merged = new TransferSummary(header.Items, items.Count, failures.Values.Sum(), failures, items.Sum(i => i.Seconds), 0, Complete: true);
                AnsiConsole.MarkupLine($"merged {files.Length} files: {items.Count} images -> {Markup.Escape(output)}");
                TransferCommand.Report(merged);
                if (summaryPath is not null) TransferCommand.WriteSummary(merged, header.Settings, Shard.Whole, summaryPath);
                return 0;
            }
            default: throw new HyperpixelFlowException($"{files[0]}: results of kind '{kinds[0].Kind}' cannot be merged by this version");
        }
    }
}
