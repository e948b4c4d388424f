using System.Reflection;
using System.Runtime.CompilerServices;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// Compiles the matching kernels ahead of their first call. They are marked <see cref="MethodImplOptions.AggressiveOptimization"/>
/// (fully optimised from the first pair on), which also keeps them out of ReadyToRun images, so a short process would
/// otherwise compile them during its first match. <see cref="StartOnce"/> does it on the thread pool while the first
/// matcher's backbone loads (libtorch's load keeps one core busy and leaves the other idle).
/// </summary>
internal static class KernelPrecompilation
{
    private static int _started;

    /// <summary>Starts <see cref="Run"/> in the background, the first time only.</summary>
    public static void StartOnce()
    {
        if (Interlocked.Exchange(ref _started, 1) == 0) Task.Run(Run);
    }

    /// <summary>Compiles every non-generic method of this library marked for aggressive optimisation; returns how many.</summary>
    public static int Run()
    {
        const BindingFlags Declared = BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
        int count = 0;
        foreach (var type in typeof(KernelPrecompilation).Assembly.GetTypes())
        {
            if (type.ContainsGenericParameters) continue;
            foreach (var method in type.GetMethods(Declared))
            {
                if (method.IsAbstract || method.ContainsGenericParameters
                    || (method.MethodImplementationFlags & MethodImplAttributes.AggressiveOptimization) == 0) continue;
                RuntimeHelpers.PrepareMethod(method.MethodHandle);
                count++;
            }
        }
        return count;
    }
}
