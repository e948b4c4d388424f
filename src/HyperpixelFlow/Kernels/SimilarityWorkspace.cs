using static TorchSharp.torch;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// A reusable float32 buffer for similarity blocks. A fresh 30+ MB tensor per pair costs page faults on every touch
/// (allocations of that size bypass the heap); reusing one buffer across pairs avoids them. Not thread-safe.
/// </summary>
internal sealed class SimilarityWorkspace : IDisposable
{
    private Tensor? _buffer;

    /// <summary>A [rows, columns] view of the buffer, grown when needed; contents are undefined.</summary>
    public Tensor Block(long rows, long columns)
    {
        long needed = rows * columns;
        if (_buffer is null || _buffer.numel() < needed)
        {
            _buffer?.Dispose();
            _buffer = empty(needed).DetachFromDisposeScope();   // outlives the caller's dispose scope
        }
        return _buffer.narrow(0, 0, needed).view(rows, columns);
    }

    public void Dispose() => _buffer?.Dispose();
}
