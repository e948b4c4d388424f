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
    /// <summary>What the other points transferred with this one tell; null for a point transferred alone or in a small set.</summary>
    public SetSignals? Set { get; init; }

    /// <summary>Names of <see cref="PointFeatures"/>, in order (a calibration file lists them; a different list is refused).</summary>
    public static IReadOnlyList<string> PointFeatureNames { get; } =
    [
        "score", "log1p_cycle_strides", "mutual", "log1p_spread_strides", "log1p_dominant_strides", "target_border", "log1p_near_spread_strides", "log1p_far_spread_strides", "log1p_back_spread_strides",
        "pair_mutual_fraction", "pair_mean_score", "score_x_pair_mean_score", "log1p_cycle_x_mutual",
    ];

    /// <summary>Names of <see cref="SetFeatures"/>, in order.</summary>
    public static IReadOnlyList<string> SetFeatureNames { get; } =
    [
        .. PointFeatureNames, "log_source_extent_strides", "log_target_extent_strides", "log1p_10_x_set_residual", "log_set_points",
        "log_source_extent_x_log_set_points", "log_target_extent_x_log_set_points", "log1p_10_x_set_residual_x_log_set_points",
    ];

    /// <summary>The point model's inputs: long-tailed distances on a log scale, plus two interactions.</summary>
    public double[] PointFeatures()
    {
        double cycle = Math.Log(1 + Finite(CycleStrides)), spread = Math.Log(1 + Finite(SpreadStrides)), dominant = Math.Log(1 + Finite(DominantStrides));
        return
        [
            Finite(Score), cycle, Mutual ? 1 : 0, spread, dominant, Finite(TargetBorder), Math.Log(1 + Finite(NearSpreadStrides)), Math.Log(1 + Finite(FarSpreadStrides)), Math.Log(1 + Finite(BackSpreadStrides)),
            Finite(PairMutualFraction), Finite(PairMeanScore), Finite(Score) * Finite(PairMeanScore), cycle * (Mutual ? 1 : 0),
        ];
    }

    /// <summary>
    /// The set model's inputs: the point model's, the object's size the set spans (in strides: the PCK rule's length,
    /// against which the point's other distances count) and the point's disagreement with the others' affine map, each
    /// also times the log of the set's size (the fewer the others, the less their map and extent say).
    /// </summary>
    public double[] SetFeatures()
    {
        var set = Set ?? throw new InvalidOperationException("a point transferred without a set has no set features");
        double source = Math.Log(set.SourceExtentStrides), target = Math.Log(set.TargetExtentStrides), residual = Math.Log(1 + 10 * Finite(set.Residual));
        double size = Math.Log(set.Points);
        return [.. PointFeatures(), source, target, residual, size, source * size, target * size, residual * size];
    }

    private static double Finite(double v) => double.IsFinite(v) ? v : 0;

    /// <summary>Number of <see cref="Values"/>.</summary>
    private const int ValueCount = 15;

    /// <summary>
    /// The signals as numbers, in declaration order, then the set's (points, source extent, target extent, residual;
    /// zeros without a set): how results logs keep them; <see cref="FromValues"/> reads them back.
    /// </summary>
    public double[] Values() =>
    [
        Score, CycleStrides, Mutual ? 1 : 0, SpreadStrides, DominantStrides, TargetBorder, NearSpreadStrides, FarSpreadStrides, BackSpreadStrides,
        PairMutualFraction, PairMeanScore, Set?.Points ?? 0, Set?.SourceExtentStrides ?? 0, Set?.TargetExtentStrides ?? 0, Set?.Residual ?? 0,
    ];

    /// <summary>The signals of <see cref="Values"/>; null for a list of another length (another version's signals).</summary>
    public static PointSignals? FromValues(IReadOnlyList<double> v) => v.Count != ValueCount ? null
        : new PointSignals(v[0], v[1], v[2] > 0.5, v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10])
        {
            Set = SetSignals.Admits(v[11], v[12], v[13]) ? new SetSignals((int)v[11], v[12], v[13], v[14]) : null,
        };
}

/// <summary>
/// What the points transferred together (a keypoint annotation) tell about one of them. The PCK rule measures a point's
/// error against the size of the object its keypoints span, so a set's extent says how far off a point may be; and the
/// others' positions say where it should land.
/// </summary>
/// <param name="Points">points in the set</param>
/// <param name="SourceExtentStrides">longer side of the source points' bounding box, in source hyperpixel strides</param>
/// <param name="TargetExtentStrides">the same of the transferred points in the target, in target hyperpixel strides</param>
/// <param name="Residual">distance of the point's landing place from where the affine map fitted (robustly) to the
/// other points' transfers takes it, over the transferred points' extent</param>
internal readonly record struct SetSignals(int Points, double SourceExtentStrides, double TargetExtentStrides, double Residual)
{
    /// <summary>
    /// Fewest points for set signals: four others leave an affine map (three unknowns per axis) one point of
    /// redundancy; smaller sets use the point model.
    /// </summary>
    public const int MinimumPoints = 5;

    /// <summary>
    /// Most points for set signals: a larger set is a grid or an outline rather than an annotation of keypoints, and
    /// the leave-one-out fits cost the square of its size.
    /// </summary>
    public const int MaximumPoints = 64;

    /// <summary>
    /// The set signals of each of an annotation's points: source points and where they landed (any frames, each
    /// uniformly scaled from the images), with the hyperpixel strides per pixel of those frames. Null for a set of fewer
    /// than <see cref="MinimumPoints"/> or more than <see cref="MaximumPoints"/> points, or one that spans less than a
    /// stride in either image.
    /// </summary>
    public static SetSignals[]? Of(IReadOnlyList<Flow.Point2> source, IReadOnlyList<Flow.Point2> target, double sourceStridesPerPixel,
        double targetStridesPerPixel)
    {
        if (source.Count != target.Count) throw new ArgumentException("one landing point per source point");
        if (source.Count == 0) return null;   // no extent to measure
        double sourceExtent = Flow.Point2.Extent(source), targetExtent = Flow.Point2.Extent(target);
        double sourceStrides = sourceExtent * sourceStridesPerPixel, targetStrides = targetExtent * targetStridesPerPixel;
        if (!Admits(source.Count, sourceStrides, targetStrides)) return null;
        var correspondences = source.Zip(target, (s, t) => (From: s, To: t)).ToArray();
        var signals = new SetSignals[source.Count];
        for (int i = 0; i < signals.Length; i++)
        {
            var others = Flow.AffineMap.FitRobust([.. correspondences[..i], .. correspondences[(i + 1)..]]);
            signals[i] = new SetSignals(source.Count, sourceStrides, targetStrides, others.Apply(source[i]).DistanceTo(target[i]) / targetExtent);
        }
        return signals;
    }

    /// <summary>
    /// Whether a set of this many points spanning these extents (strides) has set signals: between
    /// <see cref="MinimumPoints"/> and <see cref="MaximumPoints"/> points spanning at least a stride in both images.
    /// </summary>
    public static bool Admits(double points, double sourceExtentStrides, double targetExtentStrides) =>
        points is >= MinimumPoints and <= MaximumPoints && sourceExtentStrides >= 1 && targetExtentStrides >= 1;
}
