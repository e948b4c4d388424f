using HyperpixelFlow.Hyperpixels;
using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Matching;

/// <summary>
/// Cosine similarity of hyperpixels without building the dense source hyperpixels. A hyperpixel is the concatenation
/// of layer groups, every coarse group upsampled bilinearly; the dot product of two hyperpixels is the sum over groups,
/// and since interpolation is linear, a coarse group's dot products are the bilinear blend (over the 4 cells each source
/// hyperpixel interpolates) of the small Gram matrix G = S_g^T T_g at both ends. So: finest group by one GEMM at full
/// resolution; each coarse group by a small GEMM, blended along the target axis once per pair (4 cells per target
/// hyperpixel) and along the source axis per block (4 rows per source hyperpixel); divided by the norms. The sums are
/// the paper's up to float rounding, at about a tenth of its multiply-adds for the default layers.
/// </summary>
internal sealed unsafe class FactoredSimilarity
{
    private readonly Tensor _finestSource, _finestTargetT;
    private readonly CoarseGroup[] _coarse;
    private readonly float[] _inverseSourceNorms, _inverseTargetNorms;
    private readonly int _targets;

    /// <summary>A coarse group: dot products of its low-resolution source cells with every target hyperpixel [n_low, M],
    /// and per source hyperpixel the 4 cells it blends with their weights.</summary>
    internal sealed record CoarseGroup(Tensor Rows, int[] Index, float[] Weight);

    public FactoredSimilarity(HyperpixelSet source, HyperpixelSet target)
    {
        _targets = target.Grid.Count;
        _finestSource = source.FinestDense();
        _finestTargetT = target.FinestDense().t().contiguous();
        _coarse = new CoarseGroup[source.Groups.Count - 1];
        for (int g = 1; g < source.Groups.Count; g++)
        {
            var (gs, gt) = (source.Groups[g], target.Groups[g]);
            long channels = gs.shape[0];
            using var gram = gs.reshape(channels, -1).t().mm(gt.reshape(channels, -1)).contiguous();   // [hs*ws, ht*wt]
            var rows = BlendColumns(gram, target.Grid, (int)gt.shape[1], (int)gt.shape[2]);           // [hs*ws, M]
            var (index, weight) = BilinearBlend.Corners(source.Grid, (int)gs.shape[1], (int)gs.shape[2]);
            _coarse[g - 1] = new CoarseGroup(rows, index, weight);
        }
        _inverseSourceNorms = InverseNorms(source.SquaredNorms);
        _inverseTargetNorms = InverseNorms(target.SquaredNorms);
    }

    /// <summary>Each row of a Gram matrix [n, ht*wt] bilinearly upsampled at the kept target hyperpixels: [n, M].</summary>
    private static Tensor BlendColumns(Tensor gram, HyperpixelGrid target, int lowHeight, int lowWidth)
    {
        var (index, weight) = BilinearBlend.Corners(target, lowHeight, lowWidth);
        int n = (int)gram.shape[0], lowCount = (int)gram.shape[1], m = target.Count;
        var rows = empty(n, m);
        float* input = TensorMemory.Floats(gram), output = TensorMemory.Floats(rows);
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, a =>
        {
            float* source = input + (long)a * lowCount, destination = output + (long)a * m;
            for (int j = 0; j < m; j++)
            {
                int at = 4 * j;
                destination[j] = weight[at] * source[index[at]] + weight[at + 1] * source[index[at + 1]]
                    + weight[at + 2] * source[index[at + 2]] + weight[at + 3] * source[index[at + 3]];
            }
        });
        return rows;
    }

    private static float[] InverseNorms(Tensor squared) =>
        squared.cpu().data<float>().ToArray().Select(v => 1f / MathF.Max(MathF.Sqrt(v), 1e-12f)).ToArray();

    /// <summary>
    /// Cosines of source hyperpixels [from, to) with every target hyperpixel, written into <paramref name="block"/>
    /// ([to - from, M] float32, contiguous; a new tensor when null) and returned.
    /// </summary>
    public Tensor Cosines(int from, int to, Tensor? block = null)
    {
        block ??= empty(to - from, _targets);
        if (block.shape[0] != to - from || block.shape[1] != _targets || !block.is_contiguous())
            throw new ArgumentException($"block must be a contiguous [{to - from}, {_targets}] tensor");
        block.addmm_(_finestSource[from..to], _finestTargetT, beta: 0, alpha: 1);
        float* b = TensorMemory.Floats(block);
        int m = _targets;
        var rowsPointers = _coarse.Select(c => (nint)TensorMemory.Floats(c.Rows)).ToArray();
        // Column tiles keep the few low-resolution rows that neighbouring hyperpixels share in cache.
        const int Tile = 1024;
        FusedHoughKernel.ForRowRanges(to - from, 32, (_, firstRow, lastRow) =>
        {
            int first = from + firstRow, last = from + lastRow;
            fixed (float* inverseTarget = _inverseTargetNorms)
            {
                for (int j0 = 0; j0 < m; j0 += Tile)
                {
                    int width = Math.Min(Tile, m - j0);
                    for (int i = first; i < last; i++)
                    {
                        float* row = b + (long)(i - from) * m + j0;
                        for (int g = 0; g < _coarse.Length; g++)
                        {
                            var c = _coarse[g];
                            float* lowRows = (float*)rowsPointers[g] + j0;
                            for (int k = 0; k < 4; k++)
                            {
                                float weight = c.Weight[4 * i + k];
                                if (weight != 0) FusedHoughKernel.AddScaled(row, lowRows + (long)c.Index[4 * i + k] * m, weight, width);
                            }
                        }
                        FusedHoughKernel.MultiplyInPlace(row, inverseTarget + j0, _inverseSourceNorms[i], width);
                    }
                }
            }
        });
        return block;
    }
}
