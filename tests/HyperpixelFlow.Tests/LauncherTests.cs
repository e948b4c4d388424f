using System.Diagnostics;

namespace HyperpixelFlow.Tests;

/// <summary>
/// The <c>./hpf</c> launcher rebuilds (publishes) only when a real source is newer than the program. Run on a copy of the script
/// in a scratch tree, with a stand-in <c>dotnet</c> on PATH that records how it was called.
/// </summary>
[Trait("Category", TestCategory.System)]
public class LauncherTests
{
    private static (string Root, string Calls) ScratchTree()
    {
        var root = TestFolders.Create("launcher");
        File.Copy(Path.Combine(SharedData.RepoRoot, "hpf"), Path.Combine(root, "hpf"));
        foreach (var folder in new[] { "build", "src/HyperpixelFlow/Flow", "src/HyperpixelFlow.Cli/bin/Release/net10.0/linux-x64/publish", "fake-bin" })
            Directory.CreateDirectory(Path.Combine(root, folder));
        File.WriteAllText(Path.Combine(root, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(root, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(Path.Combine(root, "src/HyperpixelFlow/Flow/A.cs"), "class A { }");
        var calls = Path.Combine(root, "calls.txt");
        var fake = Path.Combine(root, "fake-bin", "dotnet");
        File.WriteAllText(fake, $"#!/bin/sh\necho \"$1\" >> '{calls}'\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var dll = Path.Combine(root, "src/HyperpixelFlow.Cli/bin/Release/net10.0/linux-x64/publish/hpf.dll");
        File.WriteAllText(dll, "");
        foreach (var source in new[] { "src/HyperpixelFlow/Flow/A.cs", "Directory.Build.props", "Directory.Build.targets" })
            File.SetLastWriteTimeUtc(Path.Combine(root, source), DateTime.UtcNow.AddMinutes(-10));
        File.SetLastWriteTimeUtc(dll, DateTime.UtcNow.AddMinutes(-5));
        return (root, calls);
    }

    private static List<string> Run(string root, string calls)
    {
        File.Delete(calls);
        var info = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add(Path.Combine(root, "hpf"));
        info.ArgumentList.Add("--version");
        info.Environment["PATH"] = Path.Combine(root, "fake-bin") + ":" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(info)!;
        process.WaitForExit(30_000);
        Assert.Equal(0, process.ExitCode);
        return File.Exists(calls) ? File.ReadAllLines(calls).ToList() : [];
    }

    [Fact]
    public void Generated_files_of_other_builds_do_not_trigger_a_rebuild_but_a_changed_source_does_once()
    {
        var (root, calls) = ScratchTree();
        Assert.DoesNotContain("publish", Run(root, calls));

        // A Debug build (an IDE, a consumer's ProjectReference) writes generated sources under obj/ and bin/.
        foreach (var generated in new[] { "src/HyperpixelFlow/obj/Debug/net10.0/HyperpixelFlow.AssemblyInfo.cs", "src/HyperpixelFlow/bin/Debug/x.props" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(root, generated))!);
            File.WriteAllText(Path.Combine(root, generated), "// generated");
        }
        Assert.DoesNotContain("publish", Run(root, calls));

        // A real source edit: one build, after which the program counts as current.
        File.WriteAllText(Path.Combine(root, "src/HyperpixelFlow/Flow/A.cs"), "class A { int x; }");
        Assert.Equal("publish", Run(root, calls)[0]);
        Assert.DoesNotContain("publish", Run(root, calls));
    }
}
