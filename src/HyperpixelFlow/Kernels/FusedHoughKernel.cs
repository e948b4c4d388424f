using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.InteropServices;
using HyperpixelFlow.Hyperpixels;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// CPU kernels of regularized Hough matching over a row-major similarity block, fused so that the N x M matrix is
/// read twice in all: once to apply max(., 0)^exponent in place and sum votes per grid offset, once to form
/// confidences and keep the best match of every row and column. Rows are split across threads, each with private
/// accumulators. Works on any block of source rows, so callers can tile the similarity matrix.
/// </summary>
internal static class FusedHoughKernel
{
    /// <summary>
    /// Turns the cosines of rows [rowStart, rowStart + rows) of the source grid (block holds exactly those rows) into
    /// vote weights in place and adds every weight to its grid-offset cell of <paramref name="offsetVotes"/> ([Ly, Lx],
    /// row-major). Returns the largest weight.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe float WeighAndVote(float* block, int rowStart, int rows, HyperpixelGrid source, HyperpixelGrid target,
        VoteWeighting weighting, double[] offsetVotes)
    {
        int ws = source.Width, wt = target.Width, ht = target.Height, m = target.Count;
        var lattice = OffsetLattice.Of(source, target);
        var layout = PhaseLayout.Of(lattice);
        int maxWorkers = Environment.ProcessorCount;
        var partial = new float[maxWorkers][];
        var maxima = new float[maxWorkers];
        nint basePtr = (nint)block;
        int workers = RowRanges.For(rows, 64, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (w, from, to) =>
        {
            var votes = partial[w] = new float[layout.Length];
            float max = 0;
            fixed (float* v = votes)
            {
                for (int r = from; r < to; r++)
                {
                    int i = rowStart + r, ys = i / ws, xs = i % ws;
                    float* row = (float*)basePtr + (long)r * m;
                    weighting.Weigh(row, i, m);
                    max = MathF.Max(max, VectorOps.Max(row, m));
                    for (int yt = 0; yt < ht; yt++)
                        VectorOps.Add(v + layout.Start(lattice.Y(ys, yt), lattice.X(xs, 0)), row + yt * wt, wt);
                }
            }
            maxima[w] = max;
        });
        for (int w = 0; w < workers; w++)
            for (int y = 0; y < lattice.Height; y++)
                for (int k = 0; k < lattice.Width; k++) offsetVotes[y * lattice.Width + k] += partial[w][layout.Start(y, k)];
        return maxima.Take(workers).Max();
    }

    /// <summary>
    /// Per-offset values laid out so that the offsets of one source cell with a row of target cells are contiguous:
    /// lattice index k of lattice row y sits at (y x step + k mod step) x span + k div step, step being the lattice's
    /// target step. With grids of equal jumps (step 1) that is the lattice's own row-major layout.
    /// </summary>
    private readonly record struct PhaseLayout(int Step, int Span, int Length)
    {
        public static PhaseLayout Of(OffsetLattice lattice)
        {
            int step = lattice.TargetStep, span = (lattice.Width + step - 1) / step;
            return new PhaseLayout(step, span, lattice.Height * step * span);
        }

        public int Start(int y, int k) => (y * Step + k % Step) * Span + k / Step;
    }

    /// <summary>
    /// Best-so-far of rows and columns, merged over blocks and threads (ties keep the lower index, as argmax does).
    /// With a refinement radius, every row's best target is also refined to the confidence-weighted mean position of
    /// the target cells within that radius (window-local cell units).
    /// </summary>
    public sealed class Best(int rows, int columns, int refineRadius = 0)
    {
        public readonly int RefineRadius = refineRadius;
        public readonly float[]? RefinedX = refineRadius > 0 ? new float[rows] : null, RefinedY = refineRadius > 0 ? new float[rows] : null;
        public readonly float[] ColumnMax = Enumerable.Repeat(float.NegativeInfinity, columns).ToArray();
        public readonly float[] RowMax = new float[rows];
        public readonly long[] RowArg = new long[rows], ColumnArg = new long[columns];
        public double ConfidenceSum;
        public float ConfidenceMax = float.NegativeInfinity;
    }

    /// <summary>
    /// Confidence = activated similarity x smoothed votes of the pair's offset, for rows [rowStart, rowStart + rows)
    /// held in <paramref name="block"/>; updates <paramref name="best"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void ConfidenceArgmax(float* block, int rowStart, int rows, HyperpixelGrid source, HyperpixelGrid target,
        float[] smoothedOffsetVotes, Best best)
    {
        int ws = source.Width, wt = target.Width, ht = target.Height, m = target.Count;
        var lattice = OffsetLattice.Of(source, target);
        var layout = PhaseLayout.Of(lattice);
        var smoothed = new float[layout.Length];
        for (int y = 0; y < lattice.Height; y++)
            for (int k = 0; k < lattice.Width; k++) smoothed[layout.Start(y, k)] = smoothedOffsetVotes[y * lattice.Width + k];
        int maxWorkers = Environment.ProcessorCount;
        var columnMax = new float[maxWorkers][];
        var columnArg = new int[maxWorkers][];
        var sums = new double[maxWorkers];
        var maxima = new float[maxWorkers];
        nint basePtr = (nint)block;
        int workers = RowRanges.For(rows, 64, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (w, from, to) =>
        {
            var cMax = columnMax[w] = new float[m];
            var cArg = columnArg[w] = new int[m];
            Array.Fill(cMax, float.NegativeInfinity);
            double sum = 0;
            float max = float.NegativeInfinity;
            fixed (float* s = smoothed)
            fixed (float* columnBest = cMax)
            fixed (int* columnBestSource = cArg)
            {
                for (int r = from; r < to; r++)
                {
                    int i = rowStart + r, ys = i / ws, xs = i % ws;
                    float* row = (float*)basePtr + (long)r * m;
                    var lanes = RowBest.Start();
                    for (int yt = 0; yt < ht; yt++)
                    {
                        int j0 = yt * wt;
                        sum += KeepBest(row + j0, s + layout.Start(lattice.Y(ys, yt), lattice.X(xs, 0)), wt, j0, i,
                            columnBest + j0, columnBestSource + j0, ref lanes);
                    }
                    var rowBest = lanes.Fold();
                    best.RowArg[i] = rowBest.Index;
                    best.RowMax[i] = rowBest.Value;
                    if (best.RefineRadius > 0)
                    {
                        var (xs0, ys0) = (xs, ys);
                        float* rowPtr = row, sPtr = s;
                        (best.RefinedX![i], best.RefinedY![i]) = SubCellPeak(rowBest.Index % wt, rowBest.Index / wt, wt, ht, best.RefineRadius,
                            (xt, yt) => rowPtr[yt * wt + xt] * sPtr[layout.Start(lattice.Y(ys0, yt), lattice.X(xs0, 0)) + xt]);
                    }
                    if (rowBest.Value > max) max = rowBest.Value;
                }
            }
            sums[w] = sum;
            maxima[w] = max;
        });
        // Workers cover increasing row ranges: merging in order with '>' keeps the lowest source index on ties.
        for (int w = 0; w < workers; w++)
        {
            best.ConfidenceSum += sums[w];
            best.ConfidenceMax = Math.Max(best.ConfidenceMax, maxima[w]);
            for (int j = 0; j < m; j++)
                if (columnMax[w][j] > best.ColumnMax[j]) { best.ColumnMax[j] = columnMax[w][j]; best.ColumnArg[j] = columnArg[w][j]; }
        }
    }

    /// <summary>
    /// Confidence-weighted mean (x, y) of the target cells within <paramref name="radius"/> of the best cell (bx, by),
    /// clipped to the wt x ht window: a soft-argmax that places a match between hyperpixel centres. Confidences are
    /// non-negative; an all-zero window keeps the best cell.
    /// </summary>
    public static (float X, float Y) SubCellPeak(int bx, int by, int wt, int ht, int radius, Func<int, int, float> confidence)
    {
        double sum = 0, sx = 0, sy = 0;
        for (int yt = Math.Max(0, by - radius); yt <= Math.Min(ht - 1, by + radius); yt++)
            for (int xt = Math.Max(0, bx - radius); xt <= Math.Min(wt - 1, bx + radius); xt++)
            {
                double c = confidence(xt, yt);
                sum += c;
                sx += c * xt;
                sy += c * yt;
            }
        return sum > 0 ? ((float)(sx / sum), (float)(sy / sum)) : (bx, by);
    }

    /// <summary>
    /// A source row's best target so far, kept per vector lane (each lane's largest value and, of equal ones, its
    /// first index) and for the positions the vector loops leave to scalars; folded once per row. The result is the
    /// row's largest confidence at its lowest index, however the row was cut into lanes.
    /// </summary>
    private struct RowBest
    {
        public Vector512<float> WideMax;
        public Vector512<int> WideArg;
        public Vector<float> LaneMax;
        public Vector<int> LaneArg;
        public float Value;
        public int Index;

        public static RowBest Start() => new()
        {
            WideMax = Vector512.Create(float.NegativeInfinity),
            LaneMax = new Vector<float>(float.NegativeInfinity),
            Value = float.NegativeInfinity,
        };

        public readonly (float Value, int Index) Fold()
        {
            var best = (Value, Index);
            for (int l = 0; l < Vector512<float>.Count; l++) Consider(ref best, WideMax[l], WideArg[l]);
            for (int l = 0; l < Vector<float>.Count; l++) Consider(ref best, LaneMax[l], LaneArg[l]);
            return best;
        }

        private static void Consider(ref (float Value, int Index) best, float value, int index)
        {
            if (value > best.Value || (value == best.Value && index < best.Index)) best = (value, index);
        }
    }

    /// <summary>
    /// For the n confidences weights[k] x votes[k] of source <paramref name="source"/> at targets j0.. : raises each
    /// target's best (value, source) where exceeded, raises <paramref name="rowBest"/> and returns their sum (summed
    /// per 8-lane vector and then in order, whatever the vector width: the same bits on every CPU).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe double KeepBest(float* weights, float* votes, int n, int j0, int source, float* columnMax, int* columnArg,
        ref RowBest rowBest)
    {
        int k = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var laneSum = Vector<float>.Zero;
            if (Vector512.IsHardwareAccelerated)
            {
                var sources = Vector512.Create(source);
                for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count)
                {
                    var v = Vector512.Load(weights + k) * Vector512.Load(votes + k);
                    laneSum = VectorOps.AddHalves(laneSum, v);
                    var held = Vector512.Load(columnMax + k);
                    var beatsColumn = Vector512.GreaterThan(v, held);
                    Vector512.ConditionalSelect(beatsColumn, v, held).Store(columnMax + k);
                    Vector512.ConditionalSelect(beatsColumn.AsInt32(), sources, Vector512.Load(columnArg + k)).Store(columnArg + k);
                    var beatsLane = Vector512.GreaterThan(v, rowBest.WideMax);
                    rowBest.WideMax = Vector512.ConditionalSelect(beatsLane, v, rowBest.WideMax);
                    rowBest.WideArg = Vector512.ConditionalSelect(beatsLane.AsInt32(), Vector512<int>.Indices + Vector512.Create(j0 + k), rowBest.WideArg);
                }
            }
            {
                var sources = new Vector<int>(source);
                for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
                {
                    var v = Vector.Load(weights + k) * Vector.Load(votes + k);
                    laneSum += v;
                    var held = Vector.Load(columnMax + k);
                    var beatsColumn = Vector.GreaterThan(v, held);
                    Vector.ConditionalSelect(beatsColumn, v, held).Store(columnMax + k);
                    Vector.ConditionalSelect(beatsColumn, sources, Vector.Load(columnArg + k)).Store(columnArg + k);
                    var beatsLane = Vector.GreaterThan(v, rowBest.LaneMax);
                    rowBest.LaneMax = Vector.ConditionalSelect(beatsLane, v, rowBest.LaneMax);
                    rowBest.LaneArg = Vector.ConditionalSelect(beatsLane, Vector<int>.Indices + new Vector<int>(j0 + k), rowBest.LaneArg);
                }
            }
            sum = Vector.Sum(laneSum);
        }
        for (; k < n; k++)
        {
            float v = weights[k] * votes[k];
            sum += v;
            if (v > columnMax[k]) { columnMax[k] = v; columnArg[k] = source; }
            if (v > rowBest.Value) (rowBest.Value, rowBest.Index) = (v, j0 + k);
        }
        return sum;
    }

    /// <summary>Weighs rows [rowStart, rowStart + rows) of a block of cosines in place, rows split across threads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Weigh(float* block, int rowStart, int rows, int columns, VoteWeighting weighting)
    {
        nint basePtr = (nint)block;
        RowRanges.For(rows, 64, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (_, from, to) =>
        {
            for (int r = from; r < to; r++) weighting.Weigh((float*)basePtr + (long)r * columns, rowStart + r, columns);
        });
    }

}
