using HyperpixelFlow;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary>Turns failures into one-line messages and exit codes (2 = bad input, 1 = internal error).</summary>
internal static class CliErrors
{
    public const int BadInput = 2;
    public const int InternalError = 1;

    public static int Report(Exception e)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } aggregate) e = aggregate.InnerExceptions[0];
        if (e is HyperpixelFlowException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return BadInput;
        }
        Console.Error.WriteLine($"error: unexpected failure: {e.GetType().Name}: {e.Message}");
        if (Environment.GetEnvironmentVariable("HPF_DEBUG") == "1") Console.Error.WriteLine(e);
        else Console.Error.WriteLine("(set HPF_DEBUG=1 for details)");
        return InternalError;
    }

    /// <summary>Runs a command body, mapping its exceptions to exit codes.</summary>
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (Exception e) { return Report(e); }
    }
}
