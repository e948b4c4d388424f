using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;

namespace HyperpixelFlow.Tests;

/// <summary>
/// The packages as a user gets them, offline: both packed into a local folder feed; a fresh console project that
/// references HyperpixelFlow from that feed only runs the README's C# example; the tool installed from the same feed
/// runs <c>hpf match</c>. Both must give the points the repository's own hpf gives.
/// </summary>
[Trait("Category", TestCategory.System)]
public class PackageTests
{
    private static (int ExitCode, string Stdout, string Stderr) Dotnet(string workingDirectory, params string[] args) =>
        Processes.Run("dotnet", args, workingDirectory, timeoutMs: 600_000);

    private static void Ok((int ExitCode, string Stdout, string Stderr) run, string what) =>
        Assert.True(run.ExitCode == 0, $"{what} failed:\n{run.Stdout}\n{run.Stderr}");

    /// <summary>The first C# block of README.md, its image names replaced by the program's arguments.</summary>
    private static string ReadmeExample()
    {
        string readme = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "README.md"));
        var block = Regex.Match(readme, "```csharp\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, "README.md has no C# example");
        return block.Groups[1].Value.Replace("\"cat1.jpg\"", "args[0]").Replace("\"cat2.jpg\"", "args[1]").Replace("\"cat3.jpg\"", "args[1]");
    }

    [Fact]
    public void Packed_library_and_tool_work_from_a_local_feed_and_agree_with_the_repository_hpf()
    {
        string root = TestFolders.Create("package");
        try { PackAndUse(root); }
        finally { TestFolders.Delete(root); }   // about 2 GB: feed, extracted packages, the installed tool
    }

    private static void PackAndUse(string root)
    {
        string feed = Path.Combine(root, "feed"), app = Path.Combine(root, "app");
        var pair = SyntheticPairs.Create();
        string source = Path.Combine(root, "source.png"), target = Path.Combine(root, "target.png");
        using (var b = pair.Source.ToBitmap()) Pictures.SavePng(b, source);
        using (var b = pair.Target.ToBitmap()) Pictures.SavePng(b, target);

        // The three packable projects (what `dotnet pack HyperpixelFlow.slnx` packs), not the solution: that would also
        // rebuild this test project under the running test.
        foreach (var project in new[] { "src/HyperpixelFlow/HyperpixelFlow.csproj", "src/HyperpixelFlow.Evaluation/HyperpixelFlow.Evaluation.csproj", "src/HyperpixelFlow.Cli/HyperpixelFlow.Cli.csproj" })
            Ok(Dotnet(SharedData.RepoRoot, "pack", project, "-c", "Release", "-o", feed), "dotnet pack " + project);
        var packages = Directory.GetFiles(feed, "*.nupkg").Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["HyperpixelFlow.1.0.0.nupkg", "HyperpixelFlow.Cli.1.0.0.nupkg", "HyperpixelFlow.Evaluation.1.0.0.nupkg"], packages);

        // Only the local feed as a source; every other package comes from the machine's NuGet cache, used in place
        // (a fallback folder), while HyperpixelFlow itself is extracted into a folder of the test's own.
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(Path.Combine(root, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources><clear /><add key="local" value="{feed}" /></packageSources>
              <fallbackPackageFolders><clear /><add key="cache" value="{cache}" /></fallbackPackageFolders>
              <config><add key="globalPackagesFolder" value="{Path.Combine(root, "packages")}" /></config>
            </configuration>
            """);
        Ok(Dotnet(root, "new", "console", "-n", "App", "-o", app), "dotnet new console");
        Ok(Dotnet(app, "add", "package", "HyperpixelFlow", "--version", "1.0.0"), "dotnet add package");
        File.WriteAllText(Path.Combine(app, "Program.cs"), ReadmeExample() + """

            foreach (var m in result.Points) Console.WriteLine(FormattableString.Invariant($"point {m.Target.X:R} {m.Target.Y:R}"));
            Console.WriteLine(FormattableString.Invariant($"described {q.Target.X:R} {q.Target.Y:R}"));
            """);
        Ok(Dotnet(app, "build", "-c", "Release"), "dotnet build of the consumer");
        Assert.True(File.Exists(Path.Combine(app, "bin", "Release", "net10.0", "weights", "ResNet18.onnx")), "the bundled weights did not reach the consumer's output");
        var example = Dotnet(app, Path.Combine(app, "bin", "Release", "net10.0", "App.dll"), source, target);
        Ok(example, "the README example");

        // The repository's hpf on the same images and point (the README example's point).
        string expectedDir = Path.Combine(root, "expected");
        Ok(CliTests.Hpf("match", source, target, "--points", "120,80", "--out", expectedDir), "hpf match");
        var expected = Target(Path.Combine(expectedDir, "result.json"));
        var lines = example.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected, Parse(Assert.Single(lines, l => l.StartsWith("point "))));
        Assert.Equal(expected, Parse(Assert.Single(lines, l => l.StartsWith("described "))));

        // The tool, installed from the same feed into a tool path of the test's own.
        string tools = Path.Combine(root, "tools"), toolOut = Path.Combine(root, "tool-out");
        Ok(Dotnet(root, "tool", "install", "HyperpixelFlow.Cli", "--version", "1.0.0", "--tool-path", tools, "--configfile", Path.Combine(root, "nuget.config")), "dotnet tool install");
        Ok(Processes.Run(Path.Combine(tools, "hpf"), ["match", source, target, "--points", "120,80", "--out", toolOut]), "the installed hpf");
        Assert.Equal(expected, Target(Path.Combine(toolOut, "result.json")));
    }

    private static (double X, double Y) Target(string resultJson)
    {
        var t = JsonDocument.Parse(File.ReadAllText(resultJson)).RootElement.GetProperty("points")[0].GetProperty("target");
        return (t[0].GetDouble(), t[1].GetDouble());
    }

    private static (double X, double Y) Parse(string line)
    {
        var parts = line.Split(' ');
        return (double.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture));
    }
}
