using System.Numerics;
using System.Runtime.CompilerServices;

namespace HyperpixelFlow.Kernels;

/// <summary>Vectorised loops over float rows that the kernels share (Vector&lt;float&gt;: the CPU's widest vectors).</summary>
internal static class VectorOps
{
    /// <summary>The largest of n values (negative infinity for none).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe float Max(float* row, int n)
    {
        int k = 0;
        var best = new Vector<float>(float.NegativeInfinity);
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
        if (Vector.IsHardwareAccelerated)
        {
            Vector<float> va = new(wa), vb = new(wb);
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
                (va * Vector.Load(a + k) + vb * Vector.Load(b + k)).Store(destination + k);
        }
        for (; k < n; k++) destination[k] = wa * a[k] + wb * b[k];
    }

    /// <summary>row[k] = (row[k] + sum_t weights[t] x sources[t][k]) x factor x scale[k] over n values, in one pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void AddRowsAndScale(float* row, float** sources, float* weights, int count, float* scale, float factor, int n)
    {
        int k = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var f = new Vector<float>(factor);
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
            {
                var sum = Vector.Load(row + k);
                for (int t = 0; t < count; t++) sum += new Vector<float>(weights[t]) * Vector.Load(sources[t] + k);
                (sum * (f * Vector.Load(scale + k))).Store(row + k);
            }
        }
        for (; k < n; k++)
        {
            float sum = row[k];
            for (int t = 0; t < count; t++) sum += weights[t] * sources[t][k];
            row[k] = sum * (factor * scale[k]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Multiply(float* a, float* b, float* result, int n)
    {
        int k = 0;
        if (Vector.IsHardwareAccelerated)
            for (; k <= n - Vector<float>.Count; k += Vector<float>.Count)
                (Vector.Load(a + k) * Vector.Load(b + k)).Store(result + k);
        for (; k < n; k++) result[k] = a[k] * b[k];
    }
}
