using System.Runtime.InteropServices;

namespace HyperpixelFlow.Cli;

/// <summary>
/// The end of an <c>hpf</c> process, without the native libraries' exit-time teardown: libtorch's static destructors
/// deregister every operator one by one, most of a tenth of a second that an ending process does not need (measured in
/// docs/performance-log.md).
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
        ExitImmediately(code);
    }
}
