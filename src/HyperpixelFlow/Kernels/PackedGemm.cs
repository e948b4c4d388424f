using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>
/// C = A x B for the finest layer group's cosines, where A is [rows, k] (source hyperpixels) and B is [k, m] (target
/// hyperpixels, k small: 64 channels per stride-4 layer of ResNet-18), and for the coarse groups' Gram matrices (low
/// cells by low cells) summed in the blocks that give libtorch's bits (<see cref="TorchBlockLength"/>,
/// <see cref="BlockedPanels"/>). B is packed once per pair into panels of 16 columns ([k][16] each, zero-padded), so
/// the micro-kernels read it sequentially; unpacked, every k step of the kernel touched another page of B and
/// libtorch's GEMM ran at about half the rate (docs/performance-log.md). Where the CPU has AVX-512 a 12 x 32 kernel
/// (two panels, 24 accumulators) runs on A's rows packed 12 at a time (<see cref="PackRows"/>), 6 x 32 on the rows
/// left; else the 6 x 16 AVX2/FMA one. Called per tile of rows and columns so that the caller can finish each tile
/// while it is in cache. Every element is summed over k in order, one FMA per step from zero, whichever kernel
/// computes it: the kernels give the same bits.
/// </summary>
internal static unsafe class PackedGemm
{
    public const int PanelWidth = 16;
    private const int RowsPerKernel = 6;

    /// <summary>Whether this CPU runs the kernel (AVX2 + FMA); elsewhere callers use the tensor engine's GEMM.</summary>
    public static bool IsSupported => Avx.IsSupported && Fma.IsSupported;

    private static readonly ConcurrentDictionary<int, int?> TorchBlocks = new();

    /// <summary>
    /// How libtorch's <c>mm</c> sums products over <paramref name="k"/> terms on this machine, as these kernels can
    /// reproduce it: in blocks of the length returned (each block one FMA chain from zero, the blocks' sums then added in
    /// order; k itself for a single chain), or null where no such blocking gives its bits. How a BLAS splits k is its own
    /// choice and differs by CPU and by k (what was found is in docs/performance-log.md), so it is found once per k by
    /// multiplying fixed pseudo-random matrices both ways with each candidate length.
    /// </summary>
    public static int? TorchBlockLength(int k) => IsSupported ? TorchBlocks.GetOrAdd(k, Probe) : null;

    private static int? Probe(int k)
    {
        const int Rows = 48, Columns = 96;
        var random = new Random(k);
        var a = new float[Rows * k];
        var b = new float[k * Columns];
        for (int i = 0; i < a.Length; i++) a[i] = random.NextSingle();
        for (int i = 0; i < b.Length; i++) b[i] = random.NextSingle() - 0.5f;
        using var scope = NewDisposeScope();
        // A as the similarity holds its low cells: [k, rows], multiplied transposed.
        var expected = tensor(a, [Rows, k]).t().contiguous().t().mm(tensor(b, [k, Columns])).contiguous().data<float>().ToArray();
        var product = new float[Rows * Columns];
        foreach (int length in new[] { k, 192, 128, 256, 64 }.Where(length => length <= k).Distinct())
        {
            fixed (float* pa = a, pb = b, pc = product)
            {
                using var panels = new BlockedPanels(StridedVectors.Columns(pb, Columns), k, Columns, length);
                var rows = new float[Rows * Math.Min(k, length)];
                var partial = new float[Rows * Columns];
                fixed (float* pr = rows, pp = partial)
                    panels.Multiply(StridedVectors.Rows(pa, k), 0, Rows, 0, Columns, pc, Columns, pr, pp);
            }
            if (expected.AsSpan().SequenceEqual(product)) return length;
        }
        return null;
    }

    /// <summary>
    /// Packs B [k, m] into panels: element (t, j) at ((j / 16) x k + t) x 16 + j % 16, the last panel's missing columns
    /// zero; column j is vector j of <paramref name="b"/>. The array comes from <see cref="ArrayPool{T}.Shared"/> (it may
    /// be longer): give it back when done, or a pair's panels (megabytes) would come from fresh pages every time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float[] Pack(StridedVectors b, int k, int m)
    {
        int panels = (m + PanelWidth - 1) / PanelWidth;
        var packed = ArrayPool<float>.Shared.Rent(checked(panels * k * PanelWidth));
        float** columns = stackalloc float*[PanelWidth];
        fixed (float* p = packed)
            for (int panel = 0; panel < panels; panel++)
            {
                int j0 = panel * PanelWidth, width = Math.Min(PanelWidth, m - j0);
                for (int c = 0; c < width; c++) columns[c] = b.Vector(j0 + c);
                bool adjacent = b.Adjacent(j0, width);
                for (int t = 0; t < k; t++)
                {
                    float* destination = p + ((long)panel * k + t) * PanelWidth;
                    if (adjacent) Buffer.MemoryCopy(columns[0] + t * b.ValueStride, destination, PanelWidth * sizeof(float), width * sizeof(float));
                    else
                        for (int c = 0; c < width; c++) destination[c] = columns[c][t * b.ValueStride];
                    new Span<float>(destination + width, PanelWidth - width).Clear();
                }
            }
        return packed;
    }

    /// <summary>
    /// Packs vectors [first, first + rows) of <paramref name="a"/> as the rows of A [rows, k] for <see cref="Multiply"/>:
    /// where the CPU runs the 12-row kernel, each whole block of 12 rows interleaved ([k][12]: element (r, t) at t x 12 +
    /// r), the remaining rows row-major. Row i's values stay within floats [i k, (i + 1) k), so a range of packed rows
    /// starting at a multiple of 12 is the packed form of its own rows. Elsewhere all rows row-major.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackRows(StridedVectors a, int first, int rows, int k, float* destination)
    {
        int blocks = Avx512F.IsSupported ? rows / WideRows : 0;
        float** vectors = stackalloc float*[WideRows];
        for (int block = 0; block < blocks; block++)
        {
            for (int r = 0; r < WideRows; r++) vectors[r] = a.Vector(first + block * WideRows + r);
            float* interleaved = destination + (long)block * WideRows * k;
            if (a.Adjacent(first + block * WideRows, WideRows))
                for (int t = 0; t < k; t++)
                    Buffer.MemoryCopy(vectors[0] + t * a.ValueStride, interleaved + t * WideRows, WideRows * sizeof(float), WideRows * sizeof(float));
            else
                for (int t = 0; t < k; t++)
                    for (int r = 0; r < WideRows; r++) interleaved[t * WideRows + r] = vectors[r][t * a.ValueStride];
        }
        for (int i = blocks * WideRows; i < rows; i++)
        {
            float* vector = a.Vector(first + i), row = destination + (long)i * k;
            for (int t = 0; t < k; t++) row[t] = vector[t * a.ValueStride];
        }
    }

    /// <summary>
    /// C[0..rows, j0..j0+width) = A[0..rows, :] x B[:, j0..j0+width), A's rows as <see cref="PackRows"/> leaves them (row-major
    /// rows would be read wrongly where the 12-row kernel runs), C with row stride <paramref name="ldc"/> and already offset
    /// to column j0. <paramref name="j0"/> must be a multiple of the panel width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(float* packedRows, int rows, int k, float* packed, int j0, int width, float* c, int ldc)
    {
        float* a = packedRows;
        float* partial = stackalloc float[WideRows * PanelWidth];
        int j = 0;
        if (Avx512F.IsSupported)
            for (; j + 2 * PanelWidth <= width; j += 2 * PanelWidth)
            {
                float* panel = packed + (long)((j0 + j) / PanelWidth) * k * PanelWidth;
                int i = 0;
                for (; i + WideRows <= rows; i += WideRows)
                    Kernel12x32(a + (long)i * k, k, panel, panel + (long)k * PanelWidth, c + (long)i * ldc + j, ldc);
                for (; i + RowsPerKernel <= rows; i += RowsPerKernel)
                    Kernel6x32(a + (long)i * k, k, panel, panel + (long)k * PanelWidth, c + (long)i * ldc + j, ldc);
                for (; i < rows; i++)
                {
                    Kernel1(a + (long)i * k, k, panel, c + (long)i * ldc + j);
                    Kernel1(a + (long)i * k, k, panel + (long)k * PanelWidth, c + (long)i * ldc + j + PanelWidth);
                }
            }
        for (; j < width; j += PanelWidth)
        {
            float* panel = packed + (long)((j0 + j) / PanelWidth) * k * PanelWidth;
            int columns = Math.Min(PanelWidth, width - j);
            int i = 0;
            if (Avx512F.IsSupported)
                for (; i + WideRows <= rows; i += WideRows)
                {
                    if (columns == PanelWidth)
                    {
                        Kernel12x16(a + (long)i * k, k, panel, c + (long)i * ldc + j, ldc);
                        continue;
                    }
                    Kernel12x16(a + (long)i * k, k, panel, partial, PanelWidth);
                    for (int r = 0; r < WideRows; r++)
                        Buffer.MemoryCopy(partial + r * PanelWidth, c + (long)(i + r) * ldc + j, columns * sizeof(float), columns * sizeof(float));
                }
            for (; i < rows; i += RowsPerKernel)
            {
                int count = Math.Min(RowsPerKernel, rows - i);
                float* aRows = a + (long)i * k;
                if (count == RowsPerKernel && columns == PanelWidth)
                {
                    Kernel6(aRows, k, panel, c + (long)i * ldc + j, ldc);
                    continue;
                }
                // Edges: full panel into a scratch tile, then the valid part.
                for (int r = 0; r < count; r++) Kernel1(aRows + (long)r * k, k, panel, partial + r * PanelWidth);
                for (int r = 0; r < count; r++)
                    Buffer.MemoryCopy(partial + r * PanelWidth, c + (long)(i + r) * ldc + j, columns * sizeof(float), columns * sizeof(float));
            }
        }
    }

    /// <summary>Twelve interleaved rows of A times one panel (16 columns) of B: the 12 x 32 kernel's column edge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel12x16(float* a, int k, float* panel, float* c, int ldc)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default,
            c6 = default, c7 = default, c8 = default, c9 = default, ca = default, cb = default;
        for (float* end = a + (long)k * WideRows; a < end; a += WideRows, panel += PanelWidth)
        {
            var b = Avx512F.LoadVector512(panel);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), b, c0);
            c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[1]), b, c1);
            c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2]), b, c2);
            c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[3]), b, c3);
            c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[4]), b, c4);
            c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[5]), b, c5);
            c6 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[6]), b, c6);
            c7 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[7]), b, c7);
            c8 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[8]), b, c8);
            c9 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[9]), b, c9);
            ca = Avx512F.FusedMultiplyAdd(Vector512.Create(a[10]), b, ca);
            cb = Avx512F.FusedMultiplyAdd(Vector512.Create(a[11]), b, cb);
        }
        Avx512F.Store(c, c0); Avx512F.Store(c + ldc, c1); Avx512F.Store(c + 2 * ldc, c2); Avx512F.Store(c + 3 * ldc, c3);
        c += 4 * ldc;
        Avx512F.Store(c, c4); Avx512F.Store(c + ldc, c5); Avx512F.Store(c + 2 * ldc, c6); Avx512F.Store(c + 3 * ldc, c7);
        c += 4 * ldc;
        Avx512F.Store(c, c8); Avx512F.Store(c + ldc, c9); Avx512F.Store(c + 2 * ldc, ca); Avx512F.Store(c + 3 * ldc, cb);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6(float* a, int k, float* panel, float* c, int ldc)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int t = 0; t < k; t++, panel += PanelWidth)
        {
            var b0 = Avx.LoadVector256(panel);
            var b1 = Avx.LoadVector256(panel + 8);
            var x = Vector256.Create(a[t]);
            c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[k + t]);
            c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2 * k + t]);
            c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3 * k + t]);
            c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4 * k + t]);
            c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5 * k + t]);
            c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
        }
        Avx.Store(c, c00); Avx.Store(c + 8, c01);
        Avx.Store(c + ldc, c10); Avx.Store(c + ldc + 8, c11);
        Avx.Store(c + 2 * ldc, c20); Avx.Store(c + 2 * ldc + 8, c21);
        Avx.Store(c + 3 * ldc, c30); Avx.Store(c + 3 * ldc + 8, c31);
        Avx.Store(c + 4 * ldc, c40); Avx.Store(c + 4 * ldc + 8, c41);
        Avx.Store(c + 5 * ldc, c50); Avx.Store(c + 5 * ldc + 8, c51);
    }

    /// <summary>Six rows of A times two panels (32 columns) of B, one 512-bit accumulator per row and panel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x32(float* a, int k, float* panel0, float* panel1, float* c, int ldc)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int t = 0; t < k; t++, panel0 += PanelWidth, panel1 += PanelWidth)
        {
            var b0 = Avx512F.LoadVector512(panel0);
            var b1 = Avx512F.LoadVector512(panel1);
            var x = Vector512.Create(a[t]);
            c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[k + t]);
            c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2 * k + t]);
            c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3 * k + t]);
            c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4 * k + t]);
            c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5 * k + t]);
            c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
        }
        Avx512F.Store(c, c00); Avx512F.Store(c + PanelWidth, c01);
        Avx512F.Store(c + ldc, c10); Avx512F.Store(c + ldc + PanelWidth, c11);
        Avx512F.Store(c + 2 * ldc, c20); Avx512F.Store(c + 2 * ldc + PanelWidth, c21);
        Avx512F.Store(c + 3 * ldc, c30); Avx512F.Store(c + 3 * ldc + PanelWidth, c31);
        Avx512F.Store(c + 4 * ldc, c40); Avx512F.Store(c + 4 * ldc + PanelWidth, c41);
        Avx512F.Store(c + 5 * ldc, c50); Avx512F.Store(c + 5 * ldc + PanelWidth, c51);
    }

    private const int WideRows = 12;

    /// <summary>
    /// Twelve rows of A, interleaved ([k][12]), times two panels (32 columns) of B: 24 accumulators, so each panel
    /// load serves twelve multiply-adds and the loop's own steps are fewer per multiply-add.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel12x32(float* a, int k, float* panel0, float* panel1, float* c, int ldc)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default,
            c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        for (float* end = a + (long)k * WideRows; a < end; a += WideRows, panel0 += PanelWidth, panel1 += PanelWidth)
        {
            var b0 = Avx512F.LoadVector512(panel0);
            var b1 = Avx512F.LoadVector512(panel1);
            var x = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]);
            c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]);
            c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
            x = Vector512.Create(a[8]);
            c80 = Avx512F.FusedMultiplyAdd(x, b0, c80); c81 = Avx512F.FusedMultiplyAdd(x, b1, c81);
            x = Vector512.Create(a[9]);
            c90 = Avx512F.FusedMultiplyAdd(x, b0, c90); c91 = Avx512F.FusedMultiplyAdd(x, b1, c91);
            x = Vector512.Create(a[10]);
            ca0 = Avx512F.FusedMultiplyAdd(x, b0, ca0); ca1 = Avx512F.FusedMultiplyAdd(x, b1, ca1);
            x = Vector512.Create(a[11]);
            cb0 = Avx512F.FusedMultiplyAdd(x, b0, cb0); cb1 = Avx512F.FusedMultiplyAdd(x, b1, cb1);
        }
        Avx512F.Store(c, c00); Avx512F.Store(c + PanelWidth, c01); c += ldc;
        Avx512F.Store(c, c10); Avx512F.Store(c + PanelWidth, c11); c += ldc;
        Avx512F.Store(c, c20); Avx512F.Store(c + PanelWidth, c21); c += ldc;
        Avx512F.Store(c, c30); Avx512F.Store(c + PanelWidth, c31); c += ldc;
        Avx512F.Store(c, c40); Avx512F.Store(c + PanelWidth, c41); c += ldc;
        Avx512F.Store(c, c50); Avx512F.Store(c + PanelWidth, c51); c += ldc;
        Avx512F.Store(c, c60); Avx512F.Store(c + PanelWidth, c61); c += ldc;
        Avx512F.Store(c, c70); Avx512F.Store(c + PanelWidth, c71); c += ldc;
        Avx512F.Store(c, c80); Avx512F.Store(c + PanelWidth, c81); c += ldc;
        Avx512F.Store(c, c90); Avx512F.Store(c + PanelWidth, c91); c += ldc;
        Avx512F.Store(c, ca0); Avx512F.Store(c + PanelWidth, ca1); c += ldc;
        Avx512F.Store(c, cb0); Avx512F.Store(c + PanelWidth, cb1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel1(float* a, int k, float* panel, float* c)
    {
        Vector256<float> c0 = default, c1 = default;
        for (int t = 0; t < k; t++, panel += PanelWidth)
        {
            var x = Vector256.Create(a[t]);
            c0 = Fma.MultiplyAdd(x, Avx.LoadVector256(panel), c0);
            c1 = Fma.MultiplyAdd(x, Avx.LoadVector256(panel + 8), c1);
        }
        Avx.Store(c, c0);
        Avx.Store(c + 8, c1);
    }
}

/// <summary>
/// B [k, m] packed for products whose k terms are summed in blocks of <see cref="BlockLength"/> (the last may be
/// shorter), each block's panels as <see cref="PackedGemm.Pack"/> gives them: with one block the plain packed B. The
/// blocking that reproduces libtorch's <c>mm</c> is <see cref="PackedGemm.TorchBlockLength"/>'s.
/// </summary>
internal sealed unsafe class BlockedPanels : IDisposable
{
    private readonly float[][] _blocks;
    private bool _disposed;

    public BlockedPanels(StridedVectors b, int k, int m, int blockLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockLength, 1);
        (K, BlockLength) = (k, Math.Min(blockLength, k));
        _blocks = new float[(k + BlockLength - 1) / BlockLength][];
        for (int block = 0; block < _blocks.Length; block++)
            _blocks[block] = PackedGemm.Pack(b.From(block * BlockLength), Math.Min(BlockLength, k - block * BlockLength), m);
    }

    /// <summary>Terms of each product.</summary>
    public int K { get; }

    /// <summary>Terms per block.</summary>
    public int BlockLength { get; }

    /// <summary>
    /// C[0..rows, 0..width) = A x B[:, j0..j0+width) for A's rows = vectors [first, first + rows) of
    /// <paramref name="a"/>, C with row stride <paramref name="ldc"/> (already offset to column j0; j0 a multiple of the
    /// panel width): each block's products summed from zero, then added to C in order. Scratch: <paramref name="packedRows"/>
    /// holds rows x BlockLength floats, <paramref name="partial"/> rows x width (unused with one block).
    /// </summary>
    public void Multiply(StridedVectors a, int first, int rows, int j0, int width, float* c, int ldc, float* packedRows, float* partial)
    {
        for (int block = 0; block < _blocks.Length; block++)
        {
            int start = block * BlockLength, length = Math.Min(BlockLength, K - start);
            PackedGemm.PackRows(a.From(start), first, rows, length, packedRows);
            fixed (float* panels = _blocks[block])
            {
                if (block == 0)
                {
                    PackedGemm.Multiply(packedRows, rows, length, panels, j0, width, c, ldc);
                    continue;
                }
                PackedGemm.Multiply(packedRows, rows, length, panels, j0, width, partial, width);
            }
            for (int r = 0; r < rows; r++) VectorOps.Add(c + (long)r * ldc, partial + (long)r * width, width);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;   // a second return of the pooled arrays would hand them out twice
        _disposed = true;
        foreach (var block in _blocks) ArrayPool<float>.Shared.Return(block);
    }
}
