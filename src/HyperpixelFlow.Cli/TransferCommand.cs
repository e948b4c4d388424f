using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using HyperpixelFlow.Flow;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary>
/// <c>hpf transfer</c>: an exemplar's points (or each row's of a pairs CSV) carried onto many target images, one JSON
/// line per target, resumable and shardable.
/// </summary>
internal static class TransferCommand
{
    private static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp" };

    public static Command Create()
    {
        var exemplar = new Option<string?>("--exemplar") { Description = "the annotated image whose points are carried onto every target" };
        var pairs = new Option<string?>("--pairs") { Description = "instead of --exemplar/--targets: a CSV with columns exemplar,target[,points] (paths relative to the CSV; points \"x,y;x,y\")" };
        var targets = new Option<string?>("--targets") { Description = "a folder (searched recursively for .jpg .jpeg .png .bmp .gif .webp), one image, or a text file listing one image per line" };
        var points = new Option<string?>("--points") { Description = "exemplar points \"x,y;x,y\" in exemplar pixels" };
        var names = new Option<string?>("--names") { Description = "names of the --points, comma-separated [default: p1, p2, ...]" };
        var pointsFile = new Option<string?>("--points-file") { Description = "exemplar points from a file: JSON [{\"name\", \"x\", \"y\"}, ...] or CSV with columns name,x,y" };
        var output = new Option<string?>("--out") { Description = "JSON-lines results file [default: named after the settings, under ./hpf-results]" };
        var pictures = new Option<string?>("--pictures") { Description = "also draw every target's matches into this folder (NNNNNN.png, the line's index)" };
        var summary = new Option<string?>("--summary") { Description = "write the run's summary JSON here" };
        var restart = new Option<bool>("--restart") { Description = "discard earlier results in the results file instead of resuming" };
        var minConfidence = new Option<double>("--min-confidence")
        {
            Description = "points whose calibrated confidence (probability of being right) is below this are listed for review (they stay in the results)",
            DefaultValueFactory = _ => 0.5,
        };
        var review = new Option<string?>("--review") { Description = "write the targets to look at (a point below --min-confidence), worst first, to this CSV" };
        var shard = CommonOptions.ShardOption();
        var common = new CommonOptions();
        var command = new Command("transfer", "carry an exemplar's points onto many images: one JSON line per image, resumable, shardable")
            { exemplar, targets, pairs, points, names, pointsFile, output, pictures, summary, restart, minConfidence, review, shard };
        common.AddTo(command);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var (items, root, work) = WorkList(r.GetValue(exemplar), r.GetValue(targets), r.GetValue(pairs),
                ExemplarPoints(r.GetValue(points), r.GetValue(names), r.GetValue(pointsFile)));
            double min = r.GetValue(minConfidence);
            if (!(min >= 0 && min <= 1)) throw new HyperpixelFlowException($"--min-confidence must be a probability between 0 and 1, got {min}");
            return Run(items, root, work, common.Parse(r), r.GetValue(output), r.GetValue(pictures), r.GetValue(summary), r.GetValue(restart),
                Shard.Parse(r.GetValue(shard)!), min, r.GetValue(review));
        }));
        return command;
    }

    private static int Run(IReadOnlyList<TransferItem> items, string root, string work, HyperpixelFlowOptions options, string? resultsPath,
        string? pictures, string? summaryPath, bool restart, Shard shard, double minConfidence, string? reviewPath)
    {
        using var matcher = new HyperpixelMatcher(options);
        var transfer = new BatchTransfer(matcher);
        var settings = transfer.SettingsFor(items, root, work);
        resultsPath ??= Path.Combine("hpf-results", $"transfer-{matcher.Backbone.Name}-{settings.Fingerprint()}{CommonOptions.ShardSuffix(shard)}.jsonl");
        if (pictures is not null) MatchCommand.PrepareOutput(pictures);
        AnsiConsole.MarkupLine($"transfer: [bold]{Markup.Escape(work)}[/]{(shard.Count > 1 ? $", shard {shard}" : "")}; {matcher.Backbone.Name} layers " +
            $"{string.Join(",", matcher.Layers)}, max side {options.Image.MaxSide}, {Markup.Escape(options.DescribeMethod())}");
        AnsiConsole.MarkupLine($"results: {Markup.Escape(resultsPath)} (re-run the same command to resume)");
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        TransferSummary result;
        try
        {
            result = Progress.Run("transfer" + (shard.Count > 1 ? $" shard {shard}" : ""), "images",
                report => transfer.Run(items, settings, resultsPath, shard, restart, pictures, report, cancel.Token));
        }
        finally { Console.CancelKeyPress -= onCancel; }
        Report(result);
        if (summaryPath is not null) WriteSummary(result, settings, shard, summaryPath);
        ReportReview(ResultsLog<TransferSettings, TransferLine>.ReadAll(resultsPath).Items, matcher.HasCalibratedConfidence, minConfidence, reviewPath);
        if (!result.Complete)
        {
            AnsiConsole.MarkupLine($"[yellow]interrupted[/] after {result.Done}/{result.Items} images; run the same command again to finish");
            return 130;
        }
        return 0;
    }

    public static void Report(TransferSummary summary)
    {
        AnsiConsole.MarkupLine($"done {summary.Done} of {summary.Items} images, [{(summary.Failed > 0 ? "yellow" : "green")}]{summary.Failed} failed[/]; " +
            $"{summary.Seconds:0.0} s{(summary.ImagesPerSecond > 0 ? $", {summary.ImagesPerSecond:0.0} images/s this run" : "")}");
        foreach (var (reason, count) in summary.FailureReasons.OrderByDescending(kv => kv.Value))
            AnsiConsole.MarkupLine($"  {count} x {Markup.Escape(reason)}");
    }

    /// <summary>How many targets need a look, and the list of them when asked for.</summary>
    private static void ReportReview(IReadOnlyList<TransferLine> lines, bool calibrated, double minConfidence, string? reviewPath)
    {
        if (!calibrated)
        {
            AnsiConsole.MarkupLine("confidence: these settings have no calibration (hpf calibrate fits one), so no review list");
            return;
        }
        var review = BatchTransfer.Review(lines, minConfidence);
        int below = review.Sum(r => r.PointsBelow.Count), points = lines.Sum(l => l.Points?.Count ?? 0);
        AnsiConsole.MarkupLine($"review: {review.Count} of {lines.Count(l => l.Points is not null)} targets have a point below confidence {minConfidence:0.##} " +
            $"({below} of {points} points){(reviewPath is null ? "; --review FILE lists them" : "")}");
        if (reviewPath is null) return;
        var csv = new System.Text.StringBuilder("index,target,expected_correct,points_below\n");
        foreach (var r in review)
            csv.Append(FormattableString.Invariant($"{r.Index},\"{r.Target.Replace("\"", "\"\"")}\",{r.ExpectedCorrect:0.####},\"{string.Join(";", r.PointsBelow)}\"\n"));
        File.WriteAllText(reviewPath, csv.ToString());
    }

    public static void WriteSummary(TransferSummary summary, TransferSettings settings, Shard shard, string path)
    {
        var json = new
        {
            work = settings.Work,
            work_list_sha256 = settings.WorkListHash,
            shard = shard.ToString(),
            backbone = settings.Backbone,
            weights = settings.Weights,
            layers = settings.Layers,
            options = settings.Options,
            images = summary.Items,
            done = summary.Done,
            failed = summary.Failed,
            failure_reasons = summary.FailureReasons,
            complete = summary.Complete,
            seconds = summary.Seconds,
            images_per_second = summary.ImagesPerSecond,
        };
        JsonOptions.WriteFile(path, json);
    }

    /// <summary>The items, the folder target paths are recorded relative to, and a description of the list for people.</summary>
    private static (IReadOnlyList<TransferItem> Items, string Root, string Work) WorkList(string? exemplar, string? targets, string? pairs,
        IReadOnlyList<NamedPoint>? points)
    {
        if ((exemplar is null) == (pairs is null)) throw new HyperpixelFlowException("give either --exemplar (with --targets) or --pairs");
        if (pairs is not null)
        {
            if (targets is not null) throw new HyperpixelFlowException("--targets goes with --exemplar; --pairs names the targets itself");
            var table = CsvTable.Read(pairs);
            int exemplarColumn = table.Column("exemplar"), targetColumn = table.Column("target");
            int pointsColumn = table.Header.ToList().FindIndex(h => string.Equals(h, "points", StringComparison.OrdinalIgnoreCase));
            if (pointsColumn < 0 && points is null) throw new HyperpixelFlowException($"{pairs} has no points column: give --points or --points-file");
            string folder = Path.GetDirectoryName(Path.GetFullPath(pairs))!;
            var items = table.Rows.Select(row =>
            {
                string Field(int column) => column < row.Fields.Length && !string.IsNullOrWhiteSpace(row.Fields[column])
                    ? row.Fields[column].Trim() : throw new DatasetFormatException(pairs, row.Line, $"column {column + 1} ('{table.Header[column]}') is empty");
                var rowPoints = pointsColumn >= 0 && pointsColumn < row.Fields.Length && !string.IsNullOrWhiteSpace(row.Fields[pointsColumn])
                    ? Named(CommonOptions.ParsePoints(row.Fields[pointsColumn])!, null) : points
                    ?? throw new DatasetFormatException(pairs, row.Line, "no points in this row and none given with --points");
                return new TransferItem(Path.GetFullPath(Field(exemplarColumn), folder), Path.GetFullPath(Field(targetColumn), folder), rowPoints);
            }).ToList();
            if (items.Count == 0) throw new HyperpixelFlowException($"{pairs} lists no pairs");
            return (items, folder, $"{items.Count} pairs from {pairs}");
        }
        if (targets is null) throw new HyperpixelFlowException("--exemplar needs --targets (a folder or a list of images)");
        if (points is null) throw new HyperpixelFlowException("--exemplar needs its points: --points \"x,y;x,y\" or --points-file");
        if (!File.Exists(exemplar)) throw new HyperpixelFlowException($"{exemplar}: file not found");
        var (width, height) = Imaging.ImageLoader.ReadSize(exemplar!);   // the points are checked now; the image is decoded once, by the run
        HyperpixelMatcher.ValidatePoints(points.Select(p => p.Point).ToList(), width, height);
        var (paths, root) = Targets(targets);
        string exemplarPath = Path.GetFullPath(exemplar!);
        return (paths.Select(t => new TransferItem(exemplarPath, t, points)).ToList(), root,
            $"{points.Count} point{(points.Count == 1 ? "" : "s")} of {Path.GetFileName(exemplar)} onto {paths.Count} images from {targets}");
    }

    /// <summary>Target images of a folder (recursive, image extensions only, in a fixed order) or a list file.</summary>
    private static (List<string> Paths, string Root) Targets(string targets)
    {
        List<string> paths;
        string root;
        if (Directory.Exists(targets))
        {
            root = Path.GetFullPath(targets);
            paths = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Where(p => ImageExtensions.Contains(Path.GetExtension(p)))
                .OrderBy(p => Path.GetRelativePath(root, p), StringComparer.Ordinal).ToList();
        }
        else if (File.Exists(targets) && ImageExtensions.Contains(Path.GetExtension(targets)))
        {
            root = Path.GetDirectoryName(Path.GetFullPath(targets))!;
            paths = [Path.GetFullPath(targets)];
        }
        else if (File.Exists(targets))
        {
            root = Path.GetDirectoryName(Path.GetFullPath(targets))!;
            var lines = File.ReadAllLines(targets);
            if (lines.Any(l => l.Contains('\0', StringComparison.Ordinal)))
                throw new HyperpixelFlowException($"--targets: {targets} is not a text file listing images (it has binary content)");
            paths = lines.Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))
                .Select(l => Path.GetFullPath(l, root)).ToList();
        }
        else throw new HyperpixelFlowException($"--targets: {targets} is neither a folder, an image nor a list file");
        if (paths.Count == 0) throw new HyperpixelFlowException($"--targets: no images in {targets}");
        return (paths, root);
    }

    private static IReadOnlyList<NamedPoint>? ExemplarPoints(string? inline, string? names, string? file)
    {
        if (inline is not null && file is not null) throw new HyperpixelFlowException("give --points or --points-file, not both");
        if (file is not null)
        {
            if (names is not null) throw new HyperpixelFlowException("--names goes with --points; a points file names its points itself");
            return ReadPointsFile(file);
        }
        return inline is null ? null : Named(CommonOptions.ParsePoints(inline)!, names);
    }

    private static IReadOnlyList<NamedPoint> Named(IReadOnlyList<Point2> points, string? names)
    {
        var given = names?.Split(',', StringSplitOptions.TrimEntries);
        if (given is not null && given.Length != points.Count)
            throw new HyperpixelFlowException($"--names gives {given.Length} names for {points.Count} points");
        return points.Select((p, i) => new NamedPoint(given?[i] ?? $"p{i + 1}", p)).ToList();
    }

    /// <summary>JSON: [{"name", "x", "y"}, ...] (or under "points"); CSV: columns name,x,y.</summary>
    private static IReadOnlyList<NamedPoint> ReadPointsFile(string path)
    {
        if (!File.Exists(path)) throw new HyperpixelFlowException($"{path}: file not found");
        List<NamedPoint> points;
        if (Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase))
        {
            var table = CsvTable.Read(path);
            int name = table.Column("name"), x = table.Column("x"), y = table.Column("y");
            points = table.Rows.Select(r => new NamedPoint(r.Fields[name].Trim(), new Point2(table.Number(r.Line, r.Fields, x), table.Number(r.Line, r.Fields, y)))).ToList();
        }
        else
        {
            try
            {
                var root = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("points", out var inner)) root = inner;
                points = root.EnumerateArray().Select((p, i) => new NamedPoint(
                    p.TryGetProperty("name", out var n) ? n.GetString() ?? $"p{i + 1}" : $"p{i + 1}",
                    new Point2(p.GetProperty("x").GetDouble(), p.GetProperty("y").GetDouble()))).ToList();
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
            {
                throw new HyperpixelFlowException($"{path}: expected JSON [{{\"name\": \"nose\", \"x\": 120, \"y\": 80}}, ...] ({e.Message.Split('.')[0]})");
            }
        }
        if (points.Count == 0) throw new HyperpixelFlowException($"{path}: no points");
        var duplicate = points.GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new HyperpixelFlowException($"{path}: the name '{duplicate.Key}' is given to {duplicate.Count()} points");
        return points;
    }
}
