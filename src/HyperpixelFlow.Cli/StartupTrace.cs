using System.Runtime;

namespace HyperpixelFlow.Cli;

/// <summary>
/// Where a short process's time goes, for tools/measure-startup.sh: with <c>HPF_STARTUP_TRACE</c> set to the launch time
/// (Unix nanoseconds, <c>date +%s%N</c>), each mark prints to standard error the milliseconds since then and the methods
/// compiled so far. Unset, a mark costs one comparison.
/// </summary>
internal static class StartupTrace
{
    private static readonly long? LaunchNanoseconds =
        long.TryParse(Environment.GetEnvironmentVariable("HPF_STARTUP_TRACE"), out long t) ? t : null;

    public static void Mark(string phase)
    {
        if (LaunchNanoseconds is not long launch) return;
        double milliseconds = ((DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100 - launch) / 1e6;
        Console.Error.WriteLine($"startup: {milliseconds:0.0} ms {phase} (compiled {JitInfo.GetCompiledMethodCount()} methods in {JitInfo.GetCompilationTime().TotalMilliseconds:0} ms)");
    }
}
