using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// e^x for a vector of floats, inlined into the kernels that call it. <see cref="Vector.Exp(Vector{float})"/> is a
/// generic library method that the runtime first runs unoptimised, which made a short process's first optimal-transport
/// pass several times slower than later ones; this one is compiled with its caller. Method: x = n ln2 + r with
/// |r| &lt;= ln2 / 2 (ln2 split in two parts so that r is exact), e^r by a degree-7 polynomial (Cephes' expf coefficients),
/// 2^n put into exponent bits. Plain multiplies and adds (no fused multiply-add), so every CPU gives the same bits.
/// Within 2 ulp of the exact value (tested); below -87.34, where e^x leaves float's normal range, 0; above 88.72 infinity.
/// </summary>
internal static class VectorExp
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2High = 0.693359375f;          // ln 2 to 10 bits: n * Ln2High is exact for |n| <= 128
    private const float Ln2Low = -2.12194440e-4f;        // ln 2 - Ln2High
    private const float Lowest = -87.33654f, Highest = 88.72283f;

    /// <summary>e^x element by element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<float> Exp(Vector<float> x)
    {
        var (n, er) = Reduced(Vector.Min(Vector.Max(x, new Vector<float>(Lowest)), new Vector<float>(Highest)));
        // 2^n as 2^(n/2) 2^(n - n/2): n lies in -126..128 after the clamp, and each half then has a normal float
        // (exponent field + 127).
        var whole = Vector.ConvertToInt32(n);
        var half = Vector.ShiftRightArithmetic(whole, 1);
        var bias = new Vector<int>(127);
        var result = er * Vector.AsVectorSingle(Vector.ShiftLeft(half + bias, 23)) * Vector.AsVectorSingle(Vector.ShiftLeft(whole - half + bias, 23));
        result = Vector.ConditionalSelect(Vector.LessThan(x, new Vector<float>(Lowest)), Vector<float>.Zero, result);
        result = Vector.ConditionalSelect(Vector.GreaterThan(x, new Vector<float>(Highest)), new Vector<float>(float.PositiveInfinity), result);
        return Vector.ConditionalSelect(Vector.Equals(x, x), result, x);   // NaN stays NaN
    }

    /// <summary>The inputs for which <see cref="ExpInRange(Vector{float})"/> gives the bits of <see cref="Exp(Vector{float})"/>.</summary>
    public const float InRangeLow = Lowest, InRangeHigh = 88.3f;

    /// <summary>
    /// <see cref="Exp(Vector{float})"/> for x in [<see cref="InRangeLow"/>, <see cref="InRangeHigh"/>] (or NaN), with the
    /// same bits and fewer steps: no clamps and no selects for the ends, and 2^n in one factor (n is then -126..127, a
    /// normal float, and scaling by powers of two rounds once however it is split). For callers whose values are bounded
    /// by construction, such as the optimal transport's shifted log-kernels.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<float> ExpInRange(Vector<float> x)
    {
        var (n, er) = Reduced(x);
        var result = er * Vector.AsVectorSingle(Vector.ShiftLeft(Vector.ConvertToInt32(n) + new Vector<int>(127), 23));
        return Vector.ConditionalSelect(Vector.Equals(x, x), result, x);   // NaN stays NaN
    }

    /// <summary>
    /// x = n ln2 + r with |r| &lt;= ln2 / 2 (ln2 split in two parts so that r is exact): n, and e^r = 1 + r + r^2 p(r) with
    /// p close to the Taylor series 1/2 + r/6 + r^2/24 + ... with the error spread evenly.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector<float> N, Vector<float> ExpOfRest) Reduced(Vector<float> x)
    {
        var n = Vector.Round(x * new Vector<float>(Log2E));
        var r = x - n * new Vector<float>(Ln2High) - n * new Vector<float>(Ln2Low);
        var p = new Vector<float>(1.9875691500e-4f);
        p = p * r + new Vector<float>(1.3981999507e-3f);
        p = p * r + new Vector<float>(8.3334519073e-3f);
        p = p * r + new Vector<float>(4.1665795894e-2f);
        p = p * r + new Vector<float>(1.6666665459e-1f);
        p = p * r + new Vector<float>(5.0000001201e-1f);
        return (n, p * (r * r) + r + Vector<float>.One);
    }

    /// <summary>
    /// e^x for 16 floats: the steps of <see cref="Exp(Vector{float})"/> lane for lane (the same operations in the same
    /// order), so each value has the same bits at either width; for CPUs that run 512-bit vectors at full rate.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var (n, er) = Reduced(Vector512.Min(Vector512.Max(x, Vector512.Create(Lowest)), Vector512.Create(Highest)));
        var whole = Vector512.ConvertToInt32(n);
        var half = Vector512.ShiftRightArithmetic(whole, 1);
        var bias = Vector512.Create(127);
        var result = er * Vector512.ShiftLeft(half + bias, 23).AsSingle() * Vector512.ShiftLeft(whole - half + bias, 23).AsSingle();
        result = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(Lowest)), Vector512<float>.Zero, result);
        result = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(Highest)), Vector512.Create(float.PositiveInfinity), result);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), result, x);
    }

    /// <summary>
    /// <see cref="ExpInRange(Vector{float})"/> for 16 floats, lane for lane; e^r x 2^n in one scaling instruction
    /// (VSCALEFPS rounds the exact product once, as the multiply by the power of two does).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpInRange(Vector512<float> x)
    {
        var (n, er) = Reduced(x);
        var result = Avx512F.IsSupported ? Avx512F.Scale(er, n)
            : er * Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), result, x);
    }

    /// <summary><see cref="Reduced(Vector{float})"/> for 16 floats, lane for lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> N, Vector512<float> ExpOfRest) Reduced(Vector512<float> x)
    {
        var n = Vector512.Round(x * Vector512.Create(Log2E));
        var r = x - n * Vector512.Create(Ln2High) - n * Vector512.Create(Ln2Low);
        var p = Vector512.Create(1.9875691500e-4f);
        p = p * r + Vector512.Create(1.3981999507e-3f);
        p = p * r + Vector512.Create(8.3334519073e-3f);
        p = p * r + Vector512.Create(4.1665795894e-2f);
        p = p * r + Vector512.Create(1.6666665459e-1f);
        p = p * r + Vector512.Create(5.0000001201e-1f);
        return (n, p * (r * r) + r + Vector512<float>.One);
    }
}
