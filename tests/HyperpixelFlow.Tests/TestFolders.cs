using System.Runtime.CompilerServices;

namespace HyperpixelFlow.Tests;

/// <summary>
/// Temporary folders of this test run, all under one root that is deleted when the test process exits, so that no
/// run leaves anything behind (tests that are done with a folder may also delete it at once).
/// </summary>
internal static class TestFolders
{
    private static readonly string Root = Directory.CreateTempSubdirectory($"hpf-tests-{Environment.ProcessId}-").FullName;

    /// <summary>
    /// Deletes the root at exit, and the roots of earlier runs whose process is gone (a runner that ends the test
    /// process after failures skips exit handlers); turns hpf's weight cache off for the run (also in every hpf process
    /// the tests start: they inherit the variable), so that no test writes into the user's ~/.cache.
    /// </summary>
    [ModuleInitializer]
    internal static void DeleteRootAtExit()
    {
        Environment.SetEnvironmentVariable("HPF_CACHE_DIR", "off");
        foreach (var stale in Directory.EnumerateDirectories(Path.GetTempPath(), "hpf-tests-*"))
            if (int.TryParse(Path.GetFileName(stale).Split('-')[2], out int pid) && !ProcessIsAlive(pid)) Delete(stale);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            // A child process that is still ending may write into the folder while it is deleted ("directory not
            // empty"): try again for a moment before giving up.
            for (int attempt = 0; attempt < 10 && Directory.Exists(Root); attempt++)
            {
                try { Directory.Delete(Root, recursive: true); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Thread.Sleep(200); }
            }
        };
    }

    private static bool ProcessIsAlive(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; }   // no such process
    }

    /// <summary>
    /// Deletes a folder a test is done with. Large ones must go at once: the runner may end the test process before
    /// an exit handler has removed gigabytes.
    /// </summary>
    public static void Delete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>A new empty folder under the run's root, its name starting with <paramref name="prefix"/>.</summary>
    public static string Create(string prefix) => Directory.CreateDirectory(Path.Combine(Root, $"{prefix}-{Path.GetRandomFileName()}")).FullName;

    /// <summary>A new empty folder that is deleted when disposed (<c>using var dir = TestFolders.Scoped("x");</c>).</summary>
    public static ScopedFolder Scoped(string prefix) => new(Create(prefix));
}

/// <summary>A test's folder, deleted with everything in it when the test is done.</summary>
internal sealed class ScopedFolder(string path) : IDisposable
{
    public string Path { get; } = path;

    public void Dispose() => TestFolders.Delete(Path);
}
