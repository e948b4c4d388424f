using System.CommandLine;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary><c>hpf download NAME --to DIR</c>: fetch a benchmark from its published location (resumable) and unpack it.</summary>
internal static class DownloadCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = string.Join(", ", DatasetRegistry.Names) };
        var to = new Option<string>("--to") { Description = "destination folder", DefaultValueFactory = _ => "datasets" };
        var url = new Option<string?>("--url") { Description = "download from this address (a mirror) instead of the published one" };
        var sha256 = new Option<string?>("--sha256") { Description = "expected SHA-256 of the archive" };
        var command = new Command("download", "download and unpack a benchmark (resumes an interrupted download)") { name, to, url, sha256 };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var known = DatasetDownloader.Find(r.GetValue(name)!);
            var source = known with { Url = r.GetValue(url) ?? known.Url, Sha256 = r.GetValue(sha256) ?? known.Sha256 };
            string destination = r.GetValue(to)!;
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var downloader = new DatasetDownloader(http);
            string archive = "";
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(),
                    new TransferSpeedColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask($"{source.Name}", maxValue: 1);
                    archive = downloader.DownloadAsync(source, destination, (done, total) =>
                    {
                        task.IsIndeterminate = total is null;
                        if (total is long t) task.MaxValue = t;
                        task.Value = done;
                    }).GetAwaiter().GetResult();
                });
            AnsiConsole.MarkupLine($"[green]done[/]: {Markup.Escape(archive)} unpacked into {Markup.Escape(Path.GetFullPath(destination))} " +
                $"(dataset folder {Markup.Escape(source.Folder)})");
            return 0;
        }));
        return command;
    }
}
