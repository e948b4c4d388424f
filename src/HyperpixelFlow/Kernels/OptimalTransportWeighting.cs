using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// SCOT's appearance term (Liu et al., "Semantic Correspondence as an Optimal Transport Problem", CVPR 2020): the
/// vote weight of a pair is its mass in an entropic optimal-transport plan between the two hyperpixel sets, so that a
/// source hyperpixel that resembles many targets spreads its weight and a target that attracts many sources is shared.
/// Cost = 1 - max(cos, 0)^CostExponent, uniform marginals, Sinkhorn from a = 1/N as in SCOT's code (each iteration
/// b = nu / K^T a, then a = mu / K b), plan P = diag(a) K diag(b); weight = (N P)^PlanExponent.
/// <para>
/// Computed in the log domain (log-sum-exp with running maxima), so no epsilon overflows or divides by zero, where
/// SCOT doubles epsilon on NaN. Every iteration is one pass over the cosines for the columns and one for the rows; the
/// last row pass is folded into the weighting itself, so one iteration costs a single extra pass, and when the whole
/// matrix is kept the first column pass is taken inside the similarity kernel's tiles (<see cref="ObserveFirstPassInTiles"/>),
/// so one iteration costs none. Nothing held grows with N x M beyond the caller's block.
/// </para>
/// </summary>
internal sealed class OptimalTransportWeighting : VoteWeighting
{
    private float[] _logA = [], _logB = [];
    private float[] _columnMax = [], _columnSum = [];
    private int _sources, _targets;
    private float? _fixedShift;   // the column pass's common shift, when no column can underflow (see Observe)
    private float? _rowShift;     // the weighting's common shift, when no row can underflow (see EndPass)
    private readonly object _merge = new();
    private const int ObserveRowGrain = 64;   // the column pass's split of rows across workers (ColumnSums keeps it)

    /// <summary>A weighting with these (validated) settings.</summary>
    public OptimalTransportWeighting(OptimalTransportOptions options)
    {
        options.Validate();
        Options = options;
    }

    /// <summary>The settings in use.</summary>
    public OptimalTransportOptions Options { get; }

    /// <summary>Column passes (one per iteration) interleaved with the row passes of all but the last iteration.</summary>
    public override int Passes => 2 * Options.Iterations - 1;

    /// <inheritdoc />
    public override void Begin(int sources, int targets)
    {
        _rowShift = null;
        (_sources, _targets) = (sources, targets);
        _logA = Enumerable.Repeat(-MathF.Log(sources), sources).ToArray();   // SCOT starts from a = 1/N
        _logB = new float[targets];
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override unsafe void Observe(int pass, float* block, int rowStart, int rows, int targets)
    {
        nint basePtr = (nint)block;
        if (pass % 2 == 0)
        {
            if (rowStart == 0) StartColumnPass(targets);
            if (_fixedShift is float shift)
            {
                // The tile pass's per-worker sums, over this block's rows as one tile each.
                var sums = new ColumnSums(this, shift);
                RowRanges.For(rows, ObserveRowGrain, (worker, from, to) =>
                    sums.Observe(worker, (float*)basePtr + (long)from * targets, targets, rowStart + from, to - from, 0, targets));
                sums.Complete();
                return;
            }
            RowRanges.For(rows, ObserveRowGrain, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (_, from, to) =>
            {
                var max = Enumerable.Repeat(float.NegativeInfinity, targets).ToArray();
                var sum = new float[targets];
                var x = new float[targets];
                fixed (float* mx = max, sm = sum, xs = x)
                {
                    for (int r = from; r < to; r++)
                    {
                        LogKernel((float*)basePtr + (long)r * targets, xs, targets, _logA[rowStart + r], null);
                        AccumulateLogSumExp(mx, sm, xs, targets);
                    }
                }
                lock (_merge)
                    fixed (float* gm = _columnMax, gs = _columnSum, mx = max, sm = sum)
                        MergeLogSumExp(gm, gs, mx, sm, targets);
            });
        }
        else
        {
            RowRanges.For(rows, 64, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (_, from, to) =>
            {
                var y = new float[targets];
                fixed (float* ys = y, lb = _logB)
                    for (int r = from; r < to; r++)
                    {
                        LogKernel((float*)basePtr + (long)r * targets, ys, targets, 0, lb);
                        _logA[rowStart + r] = -MathF.Log(_sources) - LogSumExp(ys, targets);
                    }
            });
        }
    }

    private void StartColumnPass(int targets)
    {
        _columnMax = Enumerable.Repeat(float.NegativeInfinity, targets).ToArray();
        _columnSum = new float[targets];
        // log K + log a lies within 1/eps + (max - min of log a) below max(log a): when that span cannot underflow
        // exp in float32, one fixed shift serves every column (one exp per value instead of a running maximum).
        float logAMax = _logA.Max();
        _fixedShift = 1 / Options.Epsilon + (logAMax - _logA.Min()) < 80 ? logAMax : null;
    }

    /// <summary>The first column pass (a fixed shift: every column's sum is a plain sum of exps), done per tile.</summary>
    public override CosineTileObserver? ObserveFirstPassInTiles()
    {
        StartColumnPass(_targets);
        return _fixedShift is float shift ? new ColumnSums(this, shift) : null;
    }

    /// <summary>
    /// A column pass on the fixed-shift path: each worker sums exp(log K + log a - shift) per column over its rows in
    /// order, with the same vector and scalar steps per column (tiles start at multiples of the widest step), and
    /// <see cref="Complete"/> adds the workers' sums to the column sums. <see cref="Observe"/> runs it over a stored
    /// block (each worker's rows as one tile), the similarity kernel tile by tile: the same column sums, bit for bit.
    /// </summary>
    private sealed class ColumnSums(OptimalTransportWeighting owner, float shift) : CosineTileObserver
    {
        private readonly float[]?[] _sums = new float[]?[Environment.ProcessorCount];

        public override int RowGrain => ObserveRowGrain;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public override unsafe void Observe(int worker, float* tile, long stride, int firstRow, int rows, int j0, int width)
        {
            if (j0 % StepWidth != 0) throw new ArgumentException($"tiles must start at a multiple of the widest vector step ({StepWidth})", nameof(j0));
            var sum = _sums[worker] ??= new float[owner._targets];
            fixed (float* sm = sum)
                for (int r = 0; r < rows; r++)
                    owner.AddExpOfLogKernel(sm + j0, tile + r * stride, width, owner._logA[firstRow + r] - shift);
        }

        public override void Complete()
        {
            foreach (var sum in _sums)
                if (sum is not null)
                    for (int j = 0; j < sum.Length; j++) owner._columnSum[j] += sum[j];
        }
    }

    /// <inheritdoc />
    public override void EndPass(int pass)
    {
        if (pass % 2 != 0) return;
        float logNu = -MathF.Log(_targets);
        for (int j = 0; j < _targets; j++)
            _logB[j] = logNu - ((_fixedShift ?? _columnMax[j]) + MathF.Log(_columnSum[j]));
        // Rows: log K + log b <= max(log b) since log K <= 0, and >= that minus 1/eps minus the span of log b; when the
        // span cannot underflow exp in float32 and the plan exponent has a closed form, Weigh needs no row maximum.
        float logBMax = _logB.Max();
        _rowShift = 1 / Options.Epsilon + (logBMax - _logB.Min()) < 80 && Options.PlanExponent is 1 or 0.5 ? logBMax : null;
    }

    /// <summary>
    /// x = exp(p (log K + offset + logB)) in place for p = 1 or 0.5, from the raw cosines in x; returns the sum of
    /// exp(log K + offset + logB) (= x for p = 1, x squared for p = 0.5). The log-kernel is taken in the same loop, with
    /// the steps of <see cref="LogKernel"/> at every position. Only with the weighting's row shift: the exponents then lie
    /// in (-80, 0] (see <see cref="EndPass"/>), where <see cref="VectorExp.ExpInRange(Vector{float})"/> gives e^x's bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe float PowerOfKernel(float* x, int n, float offset, float* logB, float p)
    {
        float inverseEps = (float)(1 / Options.Epsilon);
        int power = Options.CostExponent;
        int k = 0;
        float sum = 0;
        bool half = p == 0.5f;
        if (Vector.IsHardwareAccelerated)
        {
            var acc = Vector<float>.Zero;
            if (Wide)
            {
                // 16 values at a time, summed into the narrow accumulator half by half: the order of the loop below.
                var (scale, shift, exponent) = (Vector512.Create(inverseEps), Vector512.Create(offset - inverseEps), Vector512.Create(p));
                for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count)
                {
                    var h = VectorExp.ExpInRange((LogKernelOf(Vector512.Load(x + k), power, scale, shift) + Vector512.Load(logB + k)) * exponent);
                    acc = VectorOps.AddHalves(acc, half ? h * h : h);
                    h.Store(x + k);
                }
            }
            {
                var (scale, shift, exponent) = (new Vector<float>(inverseEps), new Vector<float>(offset - inverseEps), new Vector<float>(p));
                for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
                {
                    var h = VectorExp.ExpInRange((LogKernelOf(Vector.Load(x + k), power, scale, shift) + Vector.Load(logB + k)) * exponent);
                    acc += half ? h * h : h;
                    h.Store(x + k);
                }
            }
            sum = Vector.Sum(acc);
        }
        for (; k < n; k++)
        {
            float h = MathF.Exp((LogKernelOf(x[k], power, inverseEps, offset) + logB[k]) * p);
            sum += half ? h * h : h;
            x[k] = h;
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Multiply(float* x, int n, float factor)
    {
        int k = 0;
        if (Wide)
        {
            var f = Vector512.Create(factor);
            for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count) (Vector512.Load(x + k) * f).Store(x + k);
        }
        if (Vector.IsHardwareAccelerated)
        {
            var f = new Vector<float>(factor);
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count) (Vector.Load(x + k) * f).Store(x + k);
        }
        for (; k < n; k++) x[k] *= factor;
    }

    /// <summary>
    /// Whether the element-wise loops also run 512 bits at a time (the CPU runs them; Vector&lt;float&gt; is 8 or 16 wide, so
    /// that sums over a row can keep its lane order): every value keeps its bits.
    /// </summary>
    private static readonly bool Wide = Vector512.IsHardwareAccelerated && Vector.IsHardwareAccelerated
        && Vector<float>.Count is 8 or 16;

    /// <summary>The widest step of the element-wise loops: a column falls in the same step wherever a tile starting at a multiple of it begins.</summary>
    private static readonly int StepWidth = Wide ? Vector512<float>.Count : Vector<float>.Count;

    /// <summary>
    /// sum += exp(log K + offset) over n cosines: <see cref="LogKernel"/> and the exponential in one loop of the same
    /// shape (the same vector or scalar steps at every position), so the sums have the bits of the two loops one after
    /// the other, without the values' round trip through memory. Only with the column pass's fixed shift: the exponents
    /// then lie in (-80, 0] (see <see cref="StartColumnPass"/>), where <see cref="VectorExp.ExpInRange(Vector{float})"/>
    /// gives e^x's bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void AddExpOfLogKernel(float* sum, float* cosines, int n, float offset)
    {
        float inverseEps = (float)(1 / Options.Epsilon);
        int power = Options.CostExponent;
        int k = 0;
        if (Wide)
        {
            var (scale, shift) = (Vector512.Create(inverseEps), Vector512.Create(offset - inverseEps));
            for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count)
                (Vector512.Load(sum + k) + VectorExp.ExpInRange(LogKernelOf(Vector512.Load(cosines + k), power, scale, shift))).Store(sum + k);
        }
        if (Vector.IsHardwareAccelerated)
        {
            var (scale, shift) = (new Vector<float>(inverseEps), new Vector<float>(offset - inverseEps));
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
                (Vector.Load(sum + k) + VectorExp.ExpInRange(LogKernelOf(Vector.Load(cosines + k), power, scale, shift))).Store(sum + k);
        }
        for (; k < n; k++) sum[k] += MathF.Exp(LogKernelOf(cosines[k], power, inverseEps, offset));
    }

    /// <summary>The last iteration's a = mu / K b, folded in: N P_ij = N mu_i softmax_j(log K_ij + log b_j).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override unsafe void Weigh(float* values, int row, int targets)
    {
        fixed (float* lb = _logB)
        {
            if (_rowShift is float shift)
            {
                // One sweep: h = exp(p (y - shift)) with y = log K + log b, and the row's sum of exp(y - shift) = h^(1/p);
                // then weight = h x sum^-p (= (N P)^p). The shift bounds every row from above, so no row maximum is needed.
                float rowSum = PowerOfKernel(values, targets, -shift, lb, (float)Options.PlanExponent);
                Multiply(values, targets, MathF.Pow(rowSum, -(float)Options.PlanExponent));
                return;
            }
            LogKernel(values, values, targets, 0, lb);
            float max = VectorOps.Max(values, targets);
            float sum = ExpShifted(values, targets, max);
            Scale(values, targets, 1f / sum, (float)Options.PlanExponent);
        }
    }

    /// <inheritdoc />
    public override Tensor Weigh(Tensor cosines)
    {
        using var scope = NewDisposeScope();
        long n = cosines.shape[0], m = cosines.shape[1];
        var similarity = cosines.clamp_min(0);
        if (Options.CostExponent != 1) similarity = similarity.pow(Options.CostExponent);
        var logK = (similarity - 1) / Options.Epsilon;
        var logA = full(n, -Math.Log(n), device: cosines.device);
        Tensor logB = null!;
        for (int iteration = 0; iteration < Options.Iterations; iteration++)
        {
            logB = -Math.Log(m) - (logA.unsqueeze(1) + logK).logsumexp(0);
            if (iteration < Options.Iterations - 1) logA = -Math.Log(n) - (logK + logB.unsqueeze(0)).logsumexp(1);
        }
        var plan = (logK + logB.unsqueeze(0)).softmax(1);
        return (Options.PlanExponent == 1 ? plan : plan.pow(Options.PlanExponent)).MoveToOuterDisposeScope();
    }

    /// <summary>destination[j] = (max(cos_j, 0)^p - 1) / eps + offset + (logB?[j] or 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void LogKernel(float* cosines, float* destination, int n, float offset, float* logB)
    {
        float inverseEps = (float)(1 / Options.Epsilon);
        int power = Options.CostExponent;
        int k = 0;
        if (Wide)
        {
            var (scale, shift) = (Vector512.Create(inverseEps), Vector512.Create(offset - inverseEps));
            for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count)
            {
                var value = LogKernelOf(Vector512.Load(cosines + k), power, scale, shift);
                if (logB != null) value += Vector512.Load(logB + k);
                value.Store(destination + k);
            }
        }
        if (Vector.IsHardwareAccelerated)
        {
            var (scale, shift) = (new Vector<float>(inverseEps), new Vector<float>(offset - inverseEps));
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
            {
                var value = LogKernelOf(Vector.Load(cosines + k), power, scale, shift);
                if (logB != null) value += Vector.Load(logB + k);
                value.Store(destination + k);
            }
        }
        for (; k < n; k++) destination[k] = LogKernelOf(cosines[k], power, inverseEps, offset) + (logB != null ? logB[k] : 0f);
    }

    /// <summary>
    /// log K + offset of 16 cosines, (max(cos, 0)^power - 1) / eps + offset computed as x^power / eps + (offset - 1 / eps)
    /// (<paramref name="shift"/>); the 8-lane and scalar forms below are the vector loops' and tails' steps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> LogKernelOf(Vector512<float> cosines, int power, Vector512<float> inverseEps, Vector512<float> shift)
    {
        var x = Vector512.Max(cosines, Vector512<float>.Zero);
        var s = x;
        for (int e = 1; e < power; e++) s *= x;
        return s * inverseEps + shift;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> LogKernelOf(Vector<float> cosines, int power, Vector<float> inverseEps, Vector<float> shift)
    {
        var x = Vector.Max(cosines, Vector<float>.Zero);
        var s = x;
        for (int e = 1; e < power; e++) s *= x;
        return s * inverseEps + shift;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float LogKernelOf(float cosine, int power, float inverseEps, float offset)
    {
        float x = MathF.Max(cosine, 0f), s = x;
        for (int e = 1; e < power; e++) s *= x;
        return s * inverseEps + offset - inverseEps;
    }

    /// <summary>Running column log-sum-exp: (max, sum of exp(x - max)) updated by one row x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AccumulateLogSumExp(float* max, float* sum, float* x, int n)
    {
        int k = 0;
        if (Vector.IsHardwareAccelerated)
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
            {
                var m = Vector.Load(max + k);
                var v = Vector.Load(x + k);
                var top = Vector.Max(m, v);
                // exp(-inf - -inf) would be NaN on the first row: the running sum is 0 there, so select instead.
                var rescaled = Vector.ConditionalSelect(Vector.Equals(m, new Vector<float>(float.NegativeInfinity)),
                    Vector<float>.Zero, Vector.Load(sum + k) * VectorExp.Exp(m - top));
                (rescaled + VectorExp.Exp(v - top)).Store(sum + k);
                top.Store(max + k);
            }
        for (; k < n; k++)
        {
            float top = MathF.Max(max[k], x[k]);
            sum[k] = (float.IsNegativeInfinity(max[k]) ? 0 : sum[k] * MathF.Exp(max[k] - top)) + MathF.Exp(x[k] - top);
            max[k] = top;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MergeLogSumExp(float* max, float* sum, float* otherMax, float* otherSum, int n)
    {
        for (int k = 0; k < n; k++)
        {
            if (float.IsNegativeInfinity(otherMax[k])) continue;
            if (float.IsNegativeInfinity(max[k])) { (max[k], sum[k]) = (otherMax[k], otherSum[k]); continue; }
            float top = MathF.Max(max[k], otherMax[k]);
            sum[k] = sum[k] * MathF.Exp(max[k] - top) + otherSum[k] * MathF.Exp(otherMax[k] - top);
            max[k] = top;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float LogSumExp(float* x, int n)
    {
        float max = VectorOps.Max(x, n);
        float sum = 0;
        int k = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var top = new Vector<float>(max);
            var acc = Vector<float>.Zero;
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count) acc += VectorExp.Exp(Vector.Load(x + k) - top);
            sum = Vector.Sum(acc);
        }
        for (; k < n; k++) sum += MathF.Exp(x[k] - max);
        return max + MathF.Log(sum);
    }

    /// <summary>x = exp(x - shift) in place; returns the sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float ExpShifted(float* x, int n, float shift)
    {
        int k = 0;
        float sum = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var top = new Vector<float>(shift);
            var acc = Vector<float>.Zero;
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
            {
                var e = VectorExp.Exp(Vector.Load(x + k) - top);
                acc += e;
                e.Store(x + k);
            }
            sum = Vector.Sum(acc);
        }
        for (; k < n; k++) sum += x[k] = MathF.Exp(x[k] - shift);
        return sum;
    }

    /// <summary>x = (factor x)^exponent in place (exponents 1 and 0.5 without logarithms).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Scale(float* x, int n, float factor, float exponent)
    {
        int k = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var f = new Vector<float>(factor);
            var e = new Vector<float>(exponent);
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
            {
                var v = Vector.Load(x + k) * f;
                v = exponent switch
                {
                    1f => v,
                    0.5f => Vector.SquareRoot(v),
                    _ => Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), VectorExp.Exp(e * Vector.Log(v)), Vector<float>.Zero),
                };
                v.Store(x + k);
            }
        }
        for (; k < n; k++)
        {
            float v = x[k] * factor;
            x[k] = exponent == 1f ? v : v > 0 ? MathF.Pow(v, exponent) : 0f;
        }
    }
}
