namespace HyperpixelFlow.Calibration;

/// <summary>
/// What the pipeline knows about one transferred point that bears on whether it is right, all from the chosen variant's
/// match (no extra matching). Lengths are in hyperpixel strides of the source grid, so that they mean the same at
/// every working resolution.
/// </summary>
/// <param name="Score">mean normalised confidence (0..1) of the source boxes that moved the point</param>
/// <param name="CycleStrides">distance of the round trip source -> target -> source from the point</param>
/// <param name="Mutual">the round trip lands within one stride</param>
/// <param name="SpreadStrides">standard deviation of the displacements of the boxes that moved the point (their disagreement)</param>
/// <param name="DominantStrides">distance of the landing point from where the pair's dominant motion (an affine map fitted robustly to the mutual matches) takes the point</param>
/// <param name="TargetBorder">distance of the landing point from the target image's border, over the image's longer side</param>
/// <param name="NearSpreadStrides">the same over the 3 x 3 cells around the point</param>
/// <param name="FarSpreadStrides">the same over the 9 x 9 cells around the point</param>
/// <param name="BackSpreadStrides">how much the target boxes around the landing point disagree about where they come from</param>
/// <param name="PairMutualFraction">fraction of the pair's source hyperpixels whose best match is mutual</param>
/// <param name="PairMeanScore">mean normalised confidence of the pair's source hyperpixels' best matches</param>
internal readonly record struct PointSignals(double Score, double CycleStrides, bool Mutual, double SpreadStrides, double DominantStrides,
    double TargetBorder, double NearSpreadStrides, double FarSpreadStrides, double BackSpreadStrides, double PairMutualFraction, double PairMeanScore)
{
    /// <summary>Names of <see cref="Features"/>, in order (a calibration file lists them; a different list is refused).</summary>
    public static IReadOnlyList<string> FeatureNames { get; } =
    [
        "score", "log1p_cycle_strides", "mutual", "log1p_spread_strides", "log1p_dominant_strides", "target_border", "log1p_near_spread_strides", "log1p_far_spread_strides", "log1p_back_spread_strides",
        "pair_mutual_fraction", "pair_mean_score", "score_x_pair_mean_score", "log1p_cycle_x_mutual",
    ];

    /// <summary>The model's inputs: long-tailed distances on a log scale, plus two interactions.</summary>
    public double[] Features()
    {
        double cycle = Math.Log(1 + Finite(CycleStrides)), spread = Math.Log(1 + Finite(SpreadStrides)), dominant = Math.Log(1 + Finite(DominantStrides));
        return
        [
            Finite(Score), cycle, Mutual ? 1 : 0, spread, dominant, Finite(TargetBorder), Math.Log(1 + Finite(NearSpreadStrides)), Math.Log(1 + Finite(FarSpreadStrides)), Math.Log(1 + Finite(BackSpreadStrides)),
            Finite(PairMutualFraction), Finite(PairMeanScore), Finite(Score) * Finite(PairMeanScore), cycle * (Mutual ? 1 : 0),
        ];
    }

    private static double Finite(double v) => double.IsFinite(v) ? v : 0;

    /// <summary>The signals as numbers, in declaration order (how results logs keep them; <see cref="FromValues"/> reads them back).</summary>
    public double[] Values() =>
    [
        Score, CycleStrides, Mutual ? 1 : 0, SpreadStrides, DominantStrides, TargetBorder, NearSpreadStrides, FarSpreadStrides, BackSpreadStrides,
        PairMutualFraction, PairMeanScore,
    ];

    /// <summary>The signals of <see cref="Values"/>; null for a list of another length (another version's signals).</summary>
    public static PointSignals? FromValues(IReadOnlyList<double> v) => v.Count != 11 ? null
        : new PointSignals(v[0], v[1], v[2] > 0.5, v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]);
}
