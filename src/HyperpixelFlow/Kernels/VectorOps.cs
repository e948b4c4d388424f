using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// Vectorised loops over float rows that the kernels share: 512-bit vectors where the CPU runs them (the runtime keeps
/// Vector&lt;float&gt; at 256 bits even then), then Vector&lt;float&gt;, then scalars. Every loop works element by
/// element with the same multiplies and adds (no fused multiply-add), so the vector width never changes a bit.
/// </summary>
internal static class VectorOps
{
    /// <summary>The largest of n values (negative infinity for none).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe float Max(float* row, int n)
    {
        int k = 0;
        var best = new Vector<float>(float.NegativeInfinity);
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            var wide = Vector512.Create(float.NegativeInfinity);
            for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count) wide = Vector512.Max(wide, Vector512.Load(row + k));
            best = Vector<float>.Count == Vector512<float>.Count ? wide.AsVector()
                : Vector.Max(wide.GetLower().AsVector(), wide.GetUpper().AsVector());
        }
        if (Vector.IsHardwareAccelerated)
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count) best = Vector.Max(best, Vector.Load(row + k));
        float max = float.NegativeInfinity;
        for (int i = 0; i < Vector<float>.Count; i++) max = MathF.Max(max, best[i]);
        for (; k < n; k++) max = MathF.Max(max, row[k]);
        return max;
    }

    /// <summary>destination += source over n values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Add(float* destination, float* source, int n)
    {
        int k = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count)
                (Vector512.Load(destination + k) + Vector512.Load(source + k)).Store(destination + k);
        if (Vector.IsHardwareAccelerated)
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
                (Vector.Load(destination + k) + Vector.Load(source + k)).Store(destination + k);
        for (; k < n; k++) destination[k] += source[k];
    }

    /// <summary>destination = wa x a + wb x b over n values (one bilinear step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Blend(float* destination, float* a, float wa, float* b, float wb, int n)
    {
        int k = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> va = Vector512.Create(wa), vb = Vector512.Create(wb);
            for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count)
                (va * Vector512.Load(a + k) + vb * Vector512.Load(b + k)).Store(destination + k);
        }
        if (Vector.IsHardwareAccelerated)
        {
            Vector<float> va = new(wa), vb = new(wb);
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
                (va * Vector.Load(a + k) + vb * Vector.Load(b + k)).Store(destination + k);
        }
        for (; k < n; k++) destination[k] = wa * a[k] + wb * b[k];
    }

    /// <summary>
    /// row[k] = (row[k] + sum_t weights[t] x sources[t][start + k]) x factor x scale[k] over n values, in one pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void AddRowsAndScale(float* row, float** sources, int start, float* weights, int count, float* scale, float factor, int n)
    {
        int k = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var f = Vector512.Create(factor);
            // 64 values per step: each tap's weight and row pointer are read once for four vectors (per vector, those
            // reads outnumbered the values read); then 16 at a time. Each value's sum keeps its order.
            const int Step = 4 * 16;
            for (; k <= n - Step; k += Step)
            {
                float* r = row + k;
                Vector512<float> s0 = Vector512.Load(r), s1 = Vector512.Load(r + 16), s2 = Vector512.Load(r + 32), s3 = Vector512.Load(r + 48);
                for (int t = 0; t < count; t++)
                {
                    var weight = Vector512.Create(weights[t]);
                    float* source = sources[t] + start + k;
                    s0 += weight * Vector512.Load(source);
                    s1 += weight * Vector512.Load(source + 16);
                    s2 += weight * Vector512.Load(source + 32);
                    s3 += weight * Vector512.Load(source + 48);
                }
                float* c = scale + k;
                (s0 * (f * Vector512.Load(c))).Store(r);
                (s1 * (f * Vector512.Load(c + 16))).Store(r + 16);
                (s2 * (f * Vector512.Load(c + 32))).Store(r + 32);
                (s3 * (f * Vector512.Load(c + 48))).Store(r + 48);
            }
            for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count)
            {
                var sum = Vector512.Load(row + k);
                for (int t = 0; t < count; t++) sum += Vector512.Create(weights[t]) * Vector512.Load(sources[t] + start + k);
                (sum * (f * Vector512.Load(scale + k))).Store(row + k);
            }
        }
        if (Vector.IsHardwareAccelerated)
        {
            var f = new Vector<float>(factor);
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
            {
                var sum = Vector.Load(row + k);
                for (int t = 0; t < count; t++) sum += new Vector<float>(weights[t]) * Vector.Load(sources[t] + start + k);
                (sum * (f * Vector.Load(scale + k))).Store(row + k);
            }
        }
        for (; k < n; k++)
        {
            float sum = row[k];
            for (int t = 0; t < count; t++) sum += weights[t] * sources[t][start + k];
            row[k] = sum * (factor * scale[k]);
        }
    }

    /// <summary>
    /// acc + 16 values as a Vector&lt;float&gt; loop adds them: in two 8-wide steps, or in one where it is 16 wide; so a
    /// 512-bit loop keeps the lane order, and the bits, of the sums of the Vector&lt;float&gt; loop it speeds up.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<float> AddHalves(Vector<float> acc, Vector512<float> values) =>
        Vector<float>.Count == 16 ? acc + values.AsVector() : acc + values.GetLower().AsVector() + values.GetUpper().AsVector();
}
