using static TorchSharp.torch;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// Reusable float32 buffers for the similarity (<see cref="FactoredSimilarity"/>): the similarity block, the rows of each
/// coarse group computed for a whole block, and each worker's rows of each coarse group computed as it goes. A fresh
/// tensor of tens of MB per pair costs page faults on every touch (allocations of that size bypass the heap); reusing
/// buffers across pairs avoids them. Not thread-safe.
/// </summary>
internal sealed class SimilarityWorkspace : IDisposable
{
    private const int BlockSlot = 0, FirstRowsSlot = 1;
    private readonly List<Tensor?> _buffers = [];
    private readonly Dictionary<(int Worker, int Group), Tensor> _rings = [];

    /// <summary>A [rows, columns] view of the similarity block's buffer, grown when needed; contents are undefined.</summary>
    public Tensor Block(long rows, long columns) => Buffer(BlockSlot, rows, columns);

    /// <summary>A [rows, columns] view of coarse group <paramref name="group"/>'s rows buffer, grown when needed; contents are undefined.</summary>
    public Tensor Rows(int group, long rows, long columns) => Buffer(FirstRowsSlot + group, rows, columns);

    /// <summary>A buffer of <paramref name="floats"/> for one worker's rows of coarse group <paramref name="group"/>, grown when needed; contents are undefined.</summary>
    public Tensor Ring(int worker, int group, long floats)
    {
        if (!_rings.TryGetValue((worker, group), out var buffer) || buffer.numel() < floats)
        {
            buffer?.Dispose();
            _rings[(worker, group)] = buffer = empty(floats).DetachFromDisposeScope();
        }
        return buffer.narrow(0, 0, floats);
    }

    private Tensor Buffer(int slot, long rows, long columns)
    {
        while (_buffers.Count <= slot) _buffers.Add(null);
        long needed = rows * columns;
        if (_buffers[slot] is not { } buffer || buffer.numel() < needed)
        {
            _buffers[slot]?.Dispose();
            _buffers[slot] = buffer = empty(needed).DetachFromDisposeScope();   // outlives the caller's dispose scope
        }
        return buffer.narrow(0, 0, needed).view(rows, columns);
    }

    public void Dispose()
    {
        foreach (var buffer in _buffers) buffer?.Dispose();
        foreach (var buffer in _rings.Values) buffer.Dispose();
    }
}
