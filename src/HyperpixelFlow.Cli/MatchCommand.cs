using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary><c>hpf match SRC TRG</c>: correspondences of two images, as JSON and pictures.</summary>
internal static class MatchCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "source image" };
        var target = new Argument<string>("target") { Description = "target image" };
        var points = new Option<string?>("--points") { Description = "source points \"x,y;x,y\" in source pixels [default: an 8x8 grid]" };
        var output = new Option<string>("--out") { Description = "output folder", DefaultValueFactory = _ => "hpf-out" };
        var hyperpixelMatches = new Option<bool>("--hyperpixel-matches") { Description = "also write every hyperpixel's best match into result.json (thousands of entries)" };
        var common = new CommonOptions();
        var command = new Command("match", "match two images: transferred points, dense flow and pictures") { source, target, points, output, hyperpixelMatches };
        common.AddTo(command);
        command.SetAction(result => CliErrors.Run(() => Run(result.GetValue(source)!, result.GetValue(target)!,
            CommonOptions.ParsePoints(result.GetValue(points)), result.GetValue(output)!, common.Parse(result), result.GetValue(hyperpixelMatches))));
        return command;
    }

    public static int Run(string sourcePath, string targetPath, IReadOnlyList<Flow.Point2>? points, string outDir, HyperpixelFlowOptions options,
        bool withHyperpixelMatches = false)
    {
        PrepareOutput(outDir);
        var sourceImage = ImageLoader.Load(sourcePath, options.Runtime.MaxImagePixels);
        var targetImage = ImageLoader.Load(targetPath, options.Runtime.MaxImagePixels);
        StartupTrace.Mark("decoded");
        using var matcher = new HyperpixelMatcher(options);
        StartupTrace.Mark("matcher ready");
        var result = matcher.Match(sourceImage, targetImage, points);
        StartupTrace.Mark("matched");
        Write(result, sourceImage, targetImage, sourcePath, targetPath, outDir, withHyperpixelMatches);
        StartupTrace.Mark("written");
        AnsiConsole.MarkupLine($"[green]matched[/] {result.Points.Count} point{(result.Points.Count == 1 ? "" : "s")}, layers {string.Join(",", result.Layers)}, " +
            $"{Markup.Escape(result.Diagnostics.Matching)} -> {Markup.Escape(Path.GetFullPath(outDir))}");
        ReportPoints(result.Points);
        var table = new Table().AddColumn("stage").AddColumn(new TableColumn("seconds").RightAligned());
        foreach (var (stage, seconds) in result.TimingsSeconds) table.AddRow(stage, seconds.ToString("0.0000"));
        table.AddRow("[bold]total[/]", result.TimingsSeconds.Values.Sum().ToString("0.0000"));
        AnsiConsole.Write(table);
        StartupTrace.Mark("printed");
        return 0;
    }

    /// <summary>The points (a few: a table; many: the count) with how likely each is right, and how many are expected right.</summary>
    private static void ReportPoints(IReadOnlyList<PointMatch> points)
    {
        if (points.Count == 0) return;
        double? expected = PointMatch.ExpectedCorrect(points);
        bool calibrated = expected is not null;
        if (points.Count <= 16)
        {
            var table = new Table().AddColumns("#", "source (x, y)", "target (x, y)", "P(right)", "mutual");
            for (int i = 0; i < points.Count; i++)
            {
                var p = points[i];
                string confidence = !calibrated ? "-" : $"[{(p.Confidence >= 0.7 ? "green" : p.Confidence >= 0.4 ? "yellow" : "red")}]{p.Confidence:0.00}[/]";
                table.AddRow((i + 1).ToString(), $"{p.Source.X:0.#}, {p.Source.Y:0.#}", $"{p.Target.X:0.#}, {p.Target.Y:0.#}", confidence, p.Mutual ? "yes" : "no");
            }
            AnsiConsole.Write(table);
        }
        AnsiConsole.MarkupLine(calibrated
            ? $"expected right: {expected * points.Count:0.0} of {points.Count} points (calibrated confidence; {points.Count(p => p.Confidence < 0.5)} below 0.5)"
            : "confidence: these settings have no calibration (hpf calibrate fits one)");
    }

    /// <summary>Creates the output folder and checks that it takes files, before any work is done.</summary>
    public static void PrepareOutput(string outDir)
    {
        try
        {
            Directory.CreateDirectory(outDir);
            var probe = Path.Combine(outDir, $".hpf-write-test-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HyperpixelFlowException($"{outDir}: cannot write the output folder ({e.Message})", e);
        }
    }

    /// <summary>Writes result.json, flow.bin and the pictures into a folder <see cref="PrepareOutput"/> has checked.</summary>
    private static void Write(MatchResult result, RgbImage source, RgbImage target, string sourceName, string targetName, string outDir,
        bool withHyperpixelMatches)
    {
        // The files and the three pictures are independent: written, drawn and encoded side by side.
        Parallel.Invoke(
            () =>
            {
                File.WriteAllText(Path.Combine(outDir, "result.json"), ResultJson.Serialize(result, sourceName, targetName, withHyperpixelMatches));
                using var flowFile = File.Create(Path.Combine(outDir, "flow.bin"));
                flowFile.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.Flow.Data.AsSpan()));
            },
            () => { using var picture = Pictures.Correspondences(source, target, result.Points); Pictures.SavePng(picture, Path.Combine(outDir, "matches.png")); },
            () => { using var picture = Pictures.FlowColors(result.Flow); Pictures.SavePng(picture, Path.Combine(outDir, "flow.png")); },
            () => { using var picture = Pictures.Warp(source, result.InverseFlow); Pictures.SavePng(picture, Path.Combine(outDir, "warped.png")); });
    }
}

/// <summary>The <c>result.json</c> of a match, as <c>hpf match</c> writes it and the web page downloads it.</summary>
internal static class ResultJson
{
    /// <summary>One transferred point as result.json and the web API write it.</summary>
    public static PointJson Point(PointMatch p, int id) =>
        new(id, [p.Source.X, p.Source.Y], [p.Target.X, p.Target.Y], JsonNumbers.Rounded(p.Confidence, 4), JsonNumbers.Rounded(p.Score, 4), p.Mutual, JsonNumbers.Rounded(p.CycleError, 3));

    public static string Serialize(MatchResult result, string sourceName, string targetName, bool withHyperpixelMatches)
    {
        var d = result.Diagnostics;
        var document = new ResultDocument(
            sourceName, targetName, result.Backbone, result.Layers, d.Matching,
            PointMatch.ExpectedCorrect(result.Points) is { } expected ? Math.Round(expected, 4) : null,
            result.Points.Select((p, i) => Point(p, i + 1)).ToList(),
            !withHyperpixelMatches ? null : new HyperpixelMatchesJson(
                "[source x, source y, target x, target y, confidence 0..1, mutual 0/1] per kept source hyperpixel: box centres, original pixels",
                result.HyperpixelMatches.Select(p => new[] { Math.Round(p.Source.X, 2), Math.Round(p.Source.Y, 2), Math.Round(p.Target.X, 2), Math.Round(p.Target.Y, 2),
                    Math.Round(p.Confidence, 4), p.Mutual ? 1 : 0 }).ToList()),
            new FlowFileJson("flow.bin",
                "float32 little-endian, height x width x 2 (dx, dy), source -> target, original-image pixels; NaN where --consistency-filter rejected a pixel",
                result.Flow.Width, result.Flow.Height),
            d, result.TimingsSeconds);
        return JsonSerializer.Serialize(document, ResultJsonContext.Default.ResultDocument);
    }
}

/// <summary>A transferred point in result.json: id (1-based, as numbered in matches.png), positions in original pixels.</summary>
/// <remarks><c>confidence</c>: the calibrated probability that the point is right (null where the settings have no
/// calibration); <c>score</c>: the mean normalised confidence of the boxes that moved it.</remarks>
internal sealed record PointJson(int Id, double[] Source, double[] Target, double? Confidence, double? Score, bool Mutual, double? CycleErrorPx);

/// <summary>The opt-in list of every kept hyperpixel's best match (<c>--hyperpixel-matches</c>).</summary>
internal sealed record HyperpixelMatchesJson(string Format, IReadOnlyList<double[]> Matches);

/// <summary>Where the dense flow is and how it is laid out.</summary>
internal sealed record FlowFileJson(string File, string Format, int Width, int Height);

/// <summary>The whole of result.json.</summary>
/// <remarks><c>expected_correct</c>: the mean calibrated confidence of the points, the fraction of them expected to be
/// right (null without a calibration): which pairs need a look.</remarks>
internal sealed record ResultDocument(string Source, string Target, string Backbone, IReadOnlyList<int> Layers, string Method,
    double? ExpectedCorrect, IReadOnlyList<PointJson> Points, HyperpixelMatchesJson? HyperpixelMatches, FlowFileJson Flow, MatchDiagnostics Diagnostics,
    IReadOnlyDictionary<string, double> TimingsS);

/// <summary>result.json's serializer, generated at compile time: no reflection at run time, so a short <c>hpf match</c>
/// does not spend its time building serializers.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(ResultDocument))]
internal sealed partial class ResultJsonContext : JsonSerializerContext;

internal static class JsonOptions
{
    public static JsonSerializerOptions Indented { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes a value as indented JSON, creating the file's folder when needed.</summary>
    public static void WriteFile(string path, object value)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        File.WriteAllText(path, JsonSerializer.Serialize(value, Indented));
    }
}
