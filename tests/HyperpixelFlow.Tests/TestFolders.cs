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
    /// Deletes the root at exit, and keeps the run's weight cache (hpf's imported bundled weights, also in every hpf
    /// process the tests start: they inherit the variable) under it instead of the user's ~/.cache.
    /// </summary>
    [ModuleInitializer]
    internal static void DeleteRootAtExit()
    {
        Environment.SetEnvironmentVariable("HPF_CACHE_DIR", Path.Combine(Root, "weight-cache"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Root, recursive: true); }
            catch (IOException) { }   // a file still held by a child process: nothing else to do at exit
        };
    }

    /// <summary>A new empty folder under the run's root, its name starting with <paramref name="prefix"/>.</summary>
    public static string Create(string prefix) => Directory.CreateDirectory(Path.Combine(Root, $"{prefix}-{Path.GetRandomFileName()}")).FullName;
}
