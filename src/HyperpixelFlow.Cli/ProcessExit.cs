using System.Runtime.InteropServices;

namespace HyperpixelFlow.Cli;

/// <summary>
/// The end of an <c>hpf</c> process, without the native libraries' exit-time teardown: libtorch's static destructors
/// deregister every operator one by one, most of a tenth of a second that an ending process does not need (measured in
/// docs/performance-log.md). What of the runtime's own shutdown leaves a trace is done here: the console is flushed and
/// the files through which debuggers and diagnostic tools reach the process are removed from the temporary folder.
/// </summary>
internal static class ProcessExit
{
    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void ExitImmediately(int status);

    /// <summary>Flushes the console and ends the process with <paramref name="code"/>. Every file a command writes is
    /// closed before it returns, so nothing is lost.</summary>
    public static void Now(int code)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        RemoveDiagnosticEndpoints();
        ExitImmediately(code);
    }

    /// <summary>The runtime's diagnostic socket and debugger pipes, named after the process id
    /// (<c>dotnet-diagnostic-PID-KEY-socket</c>, <c>clr-debug-pipe-PID-KEY-in|out</c>).</summary>
    private static void RemoveDiagnosticEndpoints()
    {
        string pid = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[] prefixes = [$"dotnet-diagnostic-{pid}-", $"clr-debug-pipe-{pid}-"];
        try
        {
            foreach (var path in Directory.EnumerateFiles(Path.GetTempPath(), $"*-{pid}-*"))
                if (prefixes.Any(p => Path.GetFileName(path).StartsWith(p, StringComparison.Ordinal))) File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // an unreadable temporary folder: nothing to remove
    }
}
