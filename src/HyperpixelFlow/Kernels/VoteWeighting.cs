using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// How the cosine similarity of a source / target hyperpixel pair becomes the weight with which the pair votes in the
/// Hough space (and multiplies its smoothed votes into a confidence): the appearance term of regularized Hough
/// matching. The fused CPU kernels call it on row blocks of the cosine matrix, so a weighting that needs statistics of
/// the whole matrix (optimal transport's column sums) asks for full passes over it first.
/// </summary>
internal abstract class VoteWeighting
{
    /// <summary>Full passes over the cosine matrix that <see cref="Observe"/> sees before any row is weighted.</summary>
    public virtual int Passes => 0;

    /// <summary>Called once per pair before the passes: N source and M target hyperpixels.</summary>
    public virtual void Begin(int sources, int targets) { }

    /// <summary>
    /// Pass <paramref name="pass"/> over rows [rowStart, rowStart + rows) of the raw cosines (row-major, M per row);
    /// blocks of one pass arrive in increasing row order and cover every row once. Must not change the block.
    /// </summary>
    public virtual unsafe void Observe(int pass, float* block, int rowStart, int rows, int targets) { }

    /// <summary>Called after the last block of a pass.</summary>
    public virtual void EndPass(int pass) { }

    /// <summary>
    /// Pass 0's work done on the cosines tile by tile as the similarity kernel computes them (while they are in cache),
    /// or null where this weighting cannot (then pass 0 runs over the stored matrix as usual). Called after
    /// <see cref="Begin"/>; with an observer the caller skips pass 0's <see cref="Observe"/> calls, not its
    /// <see cref="EndPass"/>.
    /// </summary>
    public virtual CosineTileObserver? ObserveFirstPassInTiles() => null;

    /// <summary>In place: the raw cosines of source row <paramref name="row"/> (M values) become its vote weights. Thread-safe.</summary>
    public abstract unsafe void Weigh(float* values, int row, int targets);

    /// <summary>Tensor formulation (any device): raw cosines [N, M] -> vote weights [N, M].</summary>
    public abstract Tensor Weigh(Tensor cosines);

    /// <summary>max(x, 0)^exponent over n values, in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void ClampedPower(float* values, int n, int exponent)
    {
        int k = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count)
            {
                var x = Vector512.Max(Vector512.Load(values + k), Vector512<float>.Zero);
                var y = x;
                for (int e = 1; e < exponent; e++) y *= x;
                y.Store(values + k);
            }
        if (Vector.IsHardwareAccelerated)
        {
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
            {
                var x = Vector.Max(Vector.Load(values + k), Vector<float>.Zero);
                var y = x;
                for (int e = 1; e < exponent; e++) y *= x;
                y.Store(values + k);
            }
        }
        for (; k < n; k++)
        {
            float x = MathF.Max(values[k], 0f), y = x;
            for (int e = 1; e < exponent; e++) y *= x;
            values[k] = y;
        }
    }
}

/// <summary>The paper's appearance term: max(cos, 0)^exponent.</summary>
internal sealed class PowerWeighting : VoteWeighting
{
    /// <summary>The paper's weighting with this exponent (3 in the paper).</summary>
    public PowerWeighting(int exponent)
    {
        if (exponent < 1) throw new HyperpixelFlowException($"the similarity exponent must be >= 1, got {exponent}");
        Exponent = exponent;
    }

    /// <summary>The exponent of the clamped cosine.</summary>
    public int Exponent { get; }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override unsafe void Weigh(float* values, int row, int targets) => ClampedPower(values, targets, Exponent);

    /// <inheritdoc />
    public override Tensor Weigh(Tensor cosines)
    {
        var sim = cosines.clamp_min(0);
        return Exponent == 1 ? sim : sim.pow_(Exponent);
    }
}

/// <summary>
/// Sees the cosines tile by tile inside the similarity kernel (<see cref="FactoredSimilarity.Cosines"/>): rows are split
/// across workers exactly as <see cref="RowRanges.For"/> splits them with <see cref="RowGrain"/>, and each worker sends
/// its tiles' rows in increasing order for every column, so per-worker sums come out as a row pass over the stored
/// matrix would make them.
/// </summary>
internal abstract class CosineTileObserver
{
    /// <summary>The row grain the kernel must split rows with (that of the pass this observer replaces).</summary>
    public abstract int RowGrain { get; }

    /// <summary>
    /// Rows [firstRow, firstRow + rows) of the source (absolute indices), columns [j0, j0 + width): row r's values at
    /// tile + (r - firstRow) x stride. Called concurrently for different workers, never for one worker at once.
    /// </summary>
    public abstract unsafe void Observe(int worker, float* tile, long stride, int firstRow, int rows, int j0, int width);

    /// <summary>After the last tile: merges the workers' results.</summary>
    public abstract void Complete();
}
