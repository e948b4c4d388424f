using static TorchSharp.torch;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// Reusable float32 buffers for the similarity: slot 0 the similarity block, slots 1.. the coarse groups' rows
/// (<see cref="FactoredSimilarity"/>). A fresh tensor of tens of MB per pair costs page faults on every touch
/// (allocations of that size bypass the heap); reusing buffers across pairs avoids them. Not thread-safe.
/// </summary>
internal sealed class SimilarityWorkspace : IDisposable
{
    private readonly List<Tensor?> _buffers = [];

    /// <summary>A [rows, columns] view of the similarity block's buffer, grown when needed; contents are undefined.</summary>
    public Tensor Block(long rows, long columns) => Buffer(0, rows, columns);

    /// <summary>A [rows, columns] view of buffer <paramref name="slot"/>, grown when needed; contents are undefined.</summary>
    public Tensor Buffer(int slot, long rows, long columns)
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
    }
}
