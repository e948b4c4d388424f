using System.Runtime.CompilerServices;

namespace HyperpixelFlow.Tests;

/// <summary>
/// Temporary folders of this test run, all under one root that is deleted when the test process exits, so that no
/// run leaves anything behind (tests that are done with a folder may also delete it at once).
/// </summary>
internal static class TestFolders
{
    private static readonly string Root = Directory.CreateTempSubdirectory($"hpf-tests-{Environment.ProcessId}-").FullName;

    [ModuleInitializer]
    internal static void DeleteRootAtExit() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }   // a file still held by a child process: nothing else to do at exit
    };

    /// <summary>A new empty folder under the run's root, its name starting with <paramref name="prefix"/>.</summary>
    public static string Create(string prefix) => Directory.CreateDirectory(Path.Combine(Root, $"{prefix}-{Path.GetRandomFileName()}")).FullName;
}
