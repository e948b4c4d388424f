using System.CommandLine;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary>
/// <c>hpf demo</c>: the whole pipeline on a synthetic pair the program draws itself (nothing to download): writes the
/// two images, matches them with the bundled backbone and reports how many keypoints landed near the truth.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "output folder", DefaultValueFactory = _ => "hpf-demo" };
        var common = new CommonOptions();
        var command = new Command("demo", "draw a synthetic image pair, match it end to end and write the results") { output };
        common.AddTo(command);
        command.SetAction(result => CliErrors.Run(() => Run(result.GetValue(output)!, common.Parse(result))));
        return command;
    }

    private static int Run(string outDir, HyperpixelFlowOptions options)
    {
        MatchCommand.PrepareOutput(outDir);
        var pair = SyntheticPairs.Create();
        string sourcePath = Path.Combine(outDir, "source.png"), targetPath = Path.Combine(outDir, "target.png");
        using (var b = pair.Source.ToBitmap()) Pictures.SavePng(b, sourcePath);
        using (var b = pair.Target.ToBitmap()) Pictures.SavePng(b, targetPath);
        MatchCommand.Run(sourcePath, targetPath, pair.SourcePoints, outDir, options);
        var result = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "result.json")));
        var predicted = result.RootElement.GetProperty("points").EnumerateArray()
            .Select(p => p.GetProperty("target")).Select(t => (X: t[0].GetDouble(), Y: t[1].GetDouble())).ToList();
        double threshold = 0.1 * Math.Max(pair.Target.Width, pair.Target.Height);
        int correct = predicted.Zip(pair.TargetPoints).Count(z => Math.Sqrt(Math.Pow(z.First.X - z.Second.X, 2) + Math.Pow(z.First.Y - z.Second.Y, 2)) <= threshold);
        AnsiConsole.MarkupLine($"demo keypoints within 0.1 x image size of the truth: [bold]{correct}/{predicted.Count}[/]");
        return 0;
    }
}
