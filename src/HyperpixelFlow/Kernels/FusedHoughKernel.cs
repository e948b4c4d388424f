using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
            var voteStarts = new int[ht];
            float max = 0;
            fixed (float* v = votes)
            fixed (int* starts = voteStarts)
            {
                for (int r = from; r < to; r++)
                {
                    int i = rowStart + r, ys = i / ws, xs = i % ws;
                    float* row = (float*)basePtr + (long)r * m;
                    weighting.Weigh(row, i, m);
                    layout.TargetRowStarts(lattice, ys, xs, voteStarts);
                    if (Vector512.IsHardwareAccelerated && wt >= Vector512<float>.Count)
                        max = MathF.Max(max, VoteWide(row, v, starts, wt, ht));
                    else
                    {
                        max = MathF.Max(max, VectorOps.Max(row, m));
                        for (int yt = 0; yt < ht; yt++) VectorOps.Add(v + starts[yt], row + yt * wt, wt);
                    }
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
    /// Adds each target row of a source row's weights to its votes (votes + starts[yt], wt values each) and returns the
    /// row's largest weight (0 when none is larger), 16 at a time with each target row's remainder as one masked step:
    /// every vote gets the same single add as in the scalar form, and the maximum needs no pass of its own.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float VoteWide(float* weights, float* votes, int* starts, int wt, int ht)
    {
        int fresh = wt % Vector512<float>.Count, whole = wt - fresh;
        var tail = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(fresh)).AsSingle();
        var max = Vector512<float>.Zero;
        for (int yt = 0; yt < ht; yt++)
        {
            float* w = weights + yt * wt, v = votes + starts[yt];
            for (int k = 0; k < whole; k += Vector512<float>.Count)
            {
                var x = Vector512.Load(w + k);
                (Vector512.Load(v + k) + x).Store(v + k);
                max = Vector512.Max(max, x);
            }
            if (fresh == 0) continue;
            var rest = Avx512F.MaskLoad(w + whole, tail, Vector512<float>.Zero);
            Avx512F.MaskStore(v + whole, tail, Avx512F.MaskLoad(v + whole, tail, Vector512<float>.Zero) + rest);
            max = Vector512.Max(max, rest);
        }
        float largest = 0;
        for (int l = 0; l < Vector512<float>.Count; l++) largest = MathF.Max(largest, max[l]);
        return largest;
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

        /// <summary>
        /// Where source cell (ys, xs)'s values with each target row begin: starts[yt], the row's values contiguous from
        /// there (for yt below the length of <paramref name="starts"/>).
        /// </summary>
        public void TargetRowStarts(OffsetLattice lattice, int ys, int xs, Span<int> starts)
        {
            for (int yt = 0; yt < starts.Length; yt++) starts[yt] = Start(lattice.Y(ys, yt), lattice.X(xs, 0));
        }
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
            var voteStarts = new int[RowsPerStep * ht];
            var rowBests = new (float Value, int Index)[RowsPerStep];
            double sum = 0;
            float max = float.NegativeInfinity;
            bool wide = Vector512.IsHardwareAccelerated && wt >= Vector512<float>.Count;
            fixed (float* s = smoothed)
            fixed (int* starts = voteStarts)
            fixed (float* columnBest = cMax)
            fixed (int* columnBestSource = cArg)
            {
                for (int r = from; r < to; r++)
                {
                    int i = rowStart + r, ys = i / ws, xs = i % ws;
                    float* row = (float*)basePtr + (long)r * m;
                    // Up to four rows of this range in one sweep where the CPU runs 512-bit vectors, else row by row.
                    int q = (r - from) % RowsPerStep;
                    (float Value, int Index) rowBest;
                    if (wide)
                    {
                        if (q == 0)
                        {
                            int count = Math.Min(RowsPerStep, to - r);
                            for (int p = 0; p < count; p++)
                                layout.TargetRowStarts(lattice, (i + p) / ws, (i + p) % ws, voteStarts.AsSpan(p * ht, ht));
                            KeepBestOfRowsWide(row, m, count, s, starts, wt, ht, i, columnBest, columnBestSource, ref sum, rowBests);
                        }
                        rowBest = rowBests[q];
                    }
                    else
                    {
                        layout.TargetRowStarts(lattice, ys, xs, voteStarts.AsSpan(0, ht));
                        rowBest = KeepBestOfRow(row, s, starts, wt, ht, i, columnBest, columnBestSource, ref sum);
                    }
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

    private const int RowsPerStep = 4;

    /// <summary>
    /// Up to four consecutive source rows' confidences weights[j] x votes[starts[yt] + xt] (j = yt wt + xt; row q at
    /// weights + q x stride, its vote starts at starts + q x ht) in one sweep over the targets, 16 at a time: raises
    /// each target's best (value, source) where exceeded, the rows compared with it in order, so that it is read and
    /// written once per sweep; adds each row's confidences to <paramref name="sum"/> in row order; and puts each row's
    /// largest one at its lowest index (argmax's answer) in <paramref name="rowBests"/>. A target row's last 16 targets
    /// are taken again when its width is no multiple of 16 (a second look changes no maximum, and the sums mask the
    /// repeated lanes), and each lane keeps its own best over the whole row, folded once at the end. With fewer than
    /// four rows the last one fills the missing places: compared again with bests it already set, it beats none.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void KeepBestOfRowsWide(float* weights, int stride, int count, float* votes, int* starts, int wt, int ht,
        int source, float* columnMax, int* columnArg, ref double sum, Span<(float Value, int Index)> rowBests)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, RowsPerStep);
        int second = Math.Min(1, count - 1), third = Math.Min(2, count - 1), fourth = count - 1;
        const int Width = 16;
        Vector512<int> source0 = Vector512.Create(source), source1 = Vector512.Create(source + 1),
            source2 = Vector512.Create(source + 2), source3 = Vector512.Create(source + 3);
        Vector512<float> max0 = Vector512.Create(float.NegativeInfinity), max1 = max0, max2 = max0, max3 = max0;
        Vector512<int> arg0 = Vector512<int>.Zero, arg1 = arg0, arg2 = arg0, arg3 = arg0;
        Vector512<float> sum0 = Vector512<float>.Zero, sum1 = sum0, sum2 = sum0, sum3 = sum0;
        int last = wt - Width, fresh = wt % Width;
        var tail = Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(Width - fresh)).AsSingle();
        for (int yt = 0; yt < ht; yt++)
        {
            int j0 = yt * wt;
            float* w0 = weights + j0, w1 = w0 + (long)second * stride, w2 = w0 + (long)third * stride, w3 = w0 + (long)fourth * stride;
            float* v0 = votes + starts[yt], v1 = votes + starts[second * ht + yt], v2 = votes + starts[third * ht + yt],
                v3 = votes + starts[fourth * ht + yt];
            float* held = columnMax + j0;
            int* heldSource = columnArg + j0;
            for (int k = 0; ; k += Width)
            {
                bool repeat = k > last;
                if (repeat)
                {
                    if (fresh == 0) break;
                    k = last;
                }
                var indices = Vector512<int>.Indices + Vector512.Create(j0 + k);
                var best = Vector512.Load(held + k);
                var bestSource = Vector512.Load(heldSource + k);
                var mask = repeat ? tail : Vector512<float>.AllBitsSet;
                KeepBest(Vector512.Load(w0 + k) * Vector512.Load(v0 + k), mask, source0, indices, ref best, ref bestSource, ref sum0, ref max0, ref arg0);
                KeepBest(Vector512.Load(w1 + k) * Vector512.Load(v1 + k), mask, source1, indices, ref best, ref bestSource, ref sum1, ref max1, ref arg1);
                KeepBest(Vector512.Load(w2 + k) * Vector512.Load(v2 + k), mask, source2, indices, ref best, ref bestSource, ref sum2, ref max2, ref arg2);
                KeepBest(Vector512.Load(w3 + k) * Vector512.Load(v3 + k), mask, source3, indices, ref best, ref bestSource, ref sum3, ref max3, ref arg3);
                best.Store(held + k);
                bestSource.Store(heldSource + k);
                if (repeat) break;
            }
        }
        sum += Vector512.Sum(sum0);
        if (count > 1) sum += Vector512.Sum(sum1);
        if (count > 2) sum += Vector512.Sum(sum2);
        if (count > 3) sum += Vector512.Sum(sum3);
        rowBests[0] = FoldLanes(max0, arg0);
        rowBests[1] = FoldLanes(max1, arg1);
        rowBests[2] = FoldLanes(max2, arg2);
        rowBests[3] = FoldLanes(max3, arg3);
    }

    /// <summary>One row's 16 confidences <paramref name="c"/>: into the targets' bests, the row's lanes and its sum (the lanes in <paramref name="fresh"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void KeepBest(Vector512<float> c, Vector512<float> fresh, Vector512<int> source, Vector512<int> indices,
        ref Vector512<float> best, ref Vector512<int> bestSource, ref Vector512<float> sum, ref Vector512<float> max, ref Vector512<int> arg)
    {
        sum += c & fresh;
        var beats = Vector512.GreaterThan(c, best);
        best = Vector512.ConditionalSelect(beats, c, best);
        bestSource = Vector512.ConditionalSelect(beats.AsInt32(), source, bestSource);
        beats = Vector512.GreaterThan(c, max);
        max = Vector512.ConditionalSelect(beats, c, max);
        arg = Vector512.ConditionalSelect(beats.AsInt32(), indices, arg);
    }

    private static (float Value, int Index) FoldLanes(Vector512<float> laneMax, Vector512<int> laneArg)
    {
        var best = (Value: float.NegativeInfinity, Index: 0);
        for (int l = 0; l < Vector512<float>.Count; l++) KeepFirstOfLargest(ref best, laneMax[l], laneArg[l]);
        return best;
    }

    /// <summary>Argmax's rule across lanes that each kept their own best: the largest value, and of equal ones the lowest index.</summary>
    private static void KeepFirstOfLargest(ref (float Value, int Index) best, float value, int index)
    {
        if (value > best.Value || (value == best.Value && index < best.Index)) best = (value, index);
    }

    /// <summary>
    /// <see cref="KeepBestOfRowsWide"/> for one row at the runtime's vector width, where the CPU has no 512-bit vectors or
    /// a target row is narrower than 16: each target row's vector part, then its remaining targets one by one (summed per
    /// target row, per lane and then in order).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe (float Value, int Index) KeepBestOfRow(float* weights, float* votes, int* starts, int wt, int ht,
        int source, float* columnMax, int* columnArg, ref double sum)
    {
        var best = (Value: float.NegativeInfinity, Index: 0);
        Vector<float> laneMax = new(float.NegativeInfinity);
        Vector<int> laneArg = Vector<int>.Zero;
        var sources = new Vector<int>(source);
        for (int yt = 0; yt < ht; yt++)
        {
            int j0 = yt * wt, k = 0;
            float* w = weights + j0, v = votes + starts[yt], held = columnMax + j0;
            int* heldSource = columnArg + j0;
            double rowSum = 0;
            if (Vector.IsHardwareAccelerated && wt >= Vector<float>.Count)
            {
                var laneSum = Vector<float>.Zero;
                for (; k <= wt - Vector<float>.Count; k += Vector<float>.Count)
                {
                    var c = Vector.Load(w + k) * Vector.Load(v + k);
                    laneSum += c;
                    var previous = Vector.Load(held + k);
                    var beatsColumn = Vector.GreaterThan(c, previous);
                    Vector.ConditionalSelect(beatsColumn, c, previous).Store(held + k);
                    Vector.ConditionalSelect(beatsColumn, sources, Vector.Load(heldSource + k)).Store(heldSource + k);
                    var beatsLane = Vector.GreaterThan(c, laneMax);
                    laneMax = Vector.ConditionalSelect(beatsLane, c, laneMax);
                    laneArg = Vector.ConditionalSelect(beatsLane, Vector<int>.Indices + new Vector<int>(j0 + k), laneArg);
                }
                rowSum = Vector.Sum(laneSum);
            }
            for (; k < wt; k++)
            {
                float c = w[k] * v[k];
                rowSum += c;
                if (c > held[k]) { held[k] = c; heldSource[k] = source; }
                if (c > best.Value) best = (c, j0 + k);
            }
            sum += rowSum;
        }
        for (int l = 0; l < Vector<float>.Count; l++) KeepFirstOfLargest(ref best, laneMax[l], laneArg[l]);
        return best;
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
