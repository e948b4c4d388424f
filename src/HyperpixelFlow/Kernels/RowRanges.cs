namespace HyperpixelFlow.Kernels;

/// <summary>The kernels' one way of running over rows in parallel.</summary>
internal static class RowRanges
{
    /// <summary>The number of workers <see cref="For"/> splits these rows among.</summary>
    public static int Workers(int rows, int grain) => Math.Max(1, Math.Min(Environment.ProcessorCount, rows / grain + 1));

    /// <summary>
    /// Splits rows [0, rows) into contiguous ranges, one per worker (at most one per core, each of at least about
    /// <paramref name="grain"/> rows), runs body(worker, from, to) in parallel and returns the number of workers.
    /// Ranges increase with the worker index, which the argmax merge relies on.
    /// </summary>
    public static int For(int rows, int grain, Action<int, int, int> body)
    {
        int workers = Workers(rows, grain);
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers },
            w => body(w, rows * w / workers, rows * (w + 1) / workers));
        return workers;
    }
}
