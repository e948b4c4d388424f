using HyperpixelFlow.Calibration;
using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Flow;

/// <summary>A transferred point: where it lands and how far to trust it.</summary>
/// <param name="Target">original target pixels</param>
/// <param name="TargetInPrimaryFrame">resized pixels of the target's primary view (the evaluator's frame)</param>
/// <param name="Confidence">calibrated probability (0..1) that the point is right; NaN where the matcher's settings have no calibration</param>
/// <param name="Score">mean normalised confidence (0..1) of the source boxes that moved it (a ranking score, not a probability)</param>
/// <param name="CycleError">original source pixels between the point and its round trip source -> target -> source</param>
/// <param name="Mutual">the round trip lands within one hyperpixel stride of the point</param>
/// <param name="Variant">index of the (scale, flip) variant whose prediction was kept</param>
public readonly record struct PointPrediction(Point2 Target, Point2 TargetInPrimaryFrame, double Confidence, double Score, double CycleError, bool Mutual,
    int Variant)
{
    /// <summary>What the calibration reads (and <c>hpf calibrate</c> fits on).</summary>
    internal PointSignals Signals { get; init; }
}

/// <summary>
/// The matches of a pair under every test-time variant (each source view with each target view of the same scale,
/// mirrored or not) and the rule that fuses them: every point, and every pixel of the dense flow, keeps the
/// prediction of the variant whose boxes are the most confident (ties: the earlier variant, so the primary one wins
/// when alone). With one variant this is exactly the paper's keypoint transfer.
/// </summary>
public sealed class PairPrediction
{
    private readonly List<Variant> _variants = [];
    private readonly float _primaryTargetScale;
    private readonly ConfidenceCalibration? _calibration;

    private sealed record Variant(ImageView Source, ImageView Target, HoughMatch Match, DisplacementField Forward, DisplacementField Backward)
    {
        public int SourceStride => Source.AsSource!.Grid.Stride;

        /// <summary>
        /// What the calibration reads of the whole pair, made on the first transferred point (the dense flow needs
        /// none of it): the fraction of source hyperpixels whose best match is mutual, their mean normalised
        /// confidence, and the dominant motion fitted to the mutual matches (where it takes a source point, resized pixels).
        /// </summary>
        public (double MutualFraction, double MeanScore, Func<Point2, Point2> Dominant) PairSignals => _pairSignals.Value;

        private readonly Lazy<(double, double, Func<Point2, Point2>)> _pairSignals = new(() =>
        {
            var mutual = Enumerable.Range(0, Match.BestTargetOfSource.Length).Where(Match.IsMutual).ToList();
            return (mutual.Count / (double)Math.Max(Match.BestTargetOfSource.Length, 1),
                Enumerable.Range(0, Match.BestTargetOfSource.Length).Average(Match.NormalizedConfidence),
                Forward.DominantMotion(mutual));
        });
    }

    /// <summary>Matches every variant of the pair with <paramref name="match"/> (source view, target view -> best matches).</summary>
    internal PairPrediction(ImageDescription source, ImageDescription target, Func<ImageView, ImageView, HoughMatch> match,
        ConfidenceCalibration? calibration)
    {
        _calibration = calibration;
        _primaryTargetScale = target.Primary.Scale;
        (SourceWidth, SourceHeight, TargetWidth, TargetHeight) = (source.OriginalWidth, source.OriginalHeight, target.OriginalWidth, target.OriginalHeight);
        HyperpixelChannels = (int)source.Primary.AsSource!.Channels;
        foreach (var s in source.Views.Where(v => !v.Flipped))
            foreach (var t in target.Views.Where(v => v.TestScale == s.TestScale))
            {
                var result = match(s, t);
                var (sg, tg) = (s.AsSource!.Grid, t.AsTarget.Grid);
                _variants.Add(new Variant(s, t, result, new DisplacementField(sg, tg, result), new DisplacementField(tg, sg, result.BestSourceOfTarget)));
            }
    }

    /// <summary>The primary variant's match (first scale, target not mirrored).</summary>
    public HoughMatch PrimaryMatch => _variants[0].Match;
    /// <summary>Width of the original source image.</summary>
    public int SourceWidth { get; }

    /// <summary>Height of the original source image.</summary>
    public int SourceHeight { get; }

    /// <summary>Width of the original target image.</summary>
    public int TargetWidth { get; }

    /// <summary>Height of the original target image.</summary>
    public int TargetHeight { get; }

    /// <summary>Channels of a hyperpixel (the selected layers' together).</summary>
    public int HyperpixelChannels { get; }

    /// <summary>The primary source view's hyperpixel grid (kept after the hyperpixels themselves are released).</summary>
    internal Hyperpixels.HyperpixelGrid PrimarySourceGrid => _variants[0].Source.AsSource!.Grid;

    /// <summary>The primary target view's hyperpixel grid.</summary>
    internal Hyperpixels.HyperpixelGrid PrimaryTargetGrid => _variants[0].Target.AsTarget.Grid;

    /// <summary>The source view of the primary variant.</summary>
    internal ImageView PrimarySource => _variants[0].Source;
    /// <summary>The target view of the primary variant.</summary>
    internal ImageView PrimaryTarget => _variants[0].Target;
    /// <summary>Number of (scale, mirror) variants matched.</summary>
    public int VariantCount => _variants.Count;

    /// <summary>
    /// Transfers a source point given in original pixels, alone (its confidence from the point model; an annotation's
    /// points go together through <see cref="TransferAll"/>). <paramref name="scaleInFloat"/> scales it into each view in
    /// float32, as the paper's evaluation does; otherwise in double, as the dense flow does.
    /// </summary>
    public PointPrediction Transfer(Point2 sourceOriginal, bool scaleInFloat = true)
    {
        int k = MostConfident(sourceOriginal, scaleInFloat);
        var v = _variants[k];
        var resized = Resized(v, sourceOriginal, scaleInFloat);
        var landed = v.Forward.Transfer(resized);
        double cycle = CycleError(v, resized, landed);
        var original = Original(v, landed);
        var primaryFrame = k == 0 ? landed : new Point2(original.X * _primaryTargetScale, original.Y * _primaryTargetScale);
        double score = v.Forward.Score(resized), stride = v.SourceStride;
        var pair = v.PairSignals;
        bool mutual = cycle <= stride / v.Source.Scale;
        var signals = new PointSignals(score, cycle * v.Source.Scale / stride, mutual, v.Forward.Spread(resized) / stride,
            landed.DistanceTo(pair.Dominant(resized)) / stride,
            Math.Max(0, Math.Min(Math.Min(landed.X, landed.Y), Math.Min(v.Target.Width - 1 - landed.X, v.Target.Height - 1 - landed.Y)))
                / Math.Max(v.Target.Width, v.Target.Height),
            v.Forward.Spread(resized, 1) / stride, v.Forward.Spread(resized, 4) / stride, v.Backward.Spread(landed) / v.Target.AsTarget.Grid.Stride, pair.MutualFraction, pair.MeanScore);
        return new PointPrediction(original, primaryFrame, _calibration?.Probability(signals) ?? double.NaN, score, cycle, mutual, k) { Signals = signals };
    }

    /// <summary>
    /// Transfers the source points of one annotation together (original pixels), each as <see cref="Transfer(Point2, bool)"/>
    /// does; with <see cref="SetSignals.MinimumPoints"/> or more points spread over more than a hyperpixel, each point's
    /// confidence also reads what the others say (<see cref="SetSignals"/>). So a point's confidence depends on the points
    /// transferred with it, as the PCK rule it predicts does.
    /// </summary>
    public IReadOnlyList<PointPrediction> TransferAll(IReadOnlyList<Point2> sourcePoints, bool scaleInFloat = true)
    {
        var predictions = sourcePoints.Select(p => Transfer(p, scaleInFloat)).ToArray();
        var sets = SetSignals.Of(sourcePoints, predictions.Select(p => p.Target).ToList(), _variants[0].Source.Scale / (double)_variants[0].SourceStride,
            _primaryTargetScale / (double)PrimaryTargetGrid.Stride);
        for (int i = 0; sets is not null && i < predictions.Length; i++)
        {
            var signals = predictions[i].Signals with { Set = sets[i] };
            predictions[i] = predictions[i] with { Signals = signals, Confidence = _calibration?.Probability(signals) ?? double.NaN };
        }
        return predictions;
    }

    /// <summary>
    /// The source points of one annotation (original pixels) with where they land and how far to trust them, as
    /// results report them (transferred together: <see cref="TransferAll"/>).
    /// </summary>
    public IReadOnlyList<PointMatch> MatchAll(IReadOnlyList<Point2> sourcePoints) => sourcePoints.Zip(TransferAll(sourcePoints), Report).ToList();

    /// <summary>A source point (original pixels) transferred alone, with where it lands and how far to trust it.</summary>
    public PointMatch MatchOf(Point2 sourceOriginal) => Report(sourceOriginal, Transfer(sourceOriginal));

    private static PointMatch Report(Point2 source, PointPrediction p) => new(source, p.Target, p.Confidence, p.Mutual, p.CycleError, p.Score);

    /// <summary>
    /// The variant whose boxes that move the point are the most confident (the first of equals). Variants compete on
    /// raw confidence (normalised x the variant's largest): normalised values are relative to each variant's own best
    /// match and so not comparable between variants.
    /// </summary>
    private int MostConfident(Point2 sourceOriginal, bool scaleInFloat)
    {
        if (_variants.Count == 1) return 0;
        int best = 0;
        double bestRaw = double.NegativeInfinity;
        for (int k = 0; k < _variants.Count; k++)
        {
            var v = _variants[k];
            double raw = v.Forward.Score(Resized(v, sourceOriginal, scaleInFloat)) * v.Match.ConfidenceMax;
            if (raw > bestRaw) (best, bestRaw) = (k, raw);
        }
        return best;
    }

    private static Point2 Resized(Variant v, Point2 p, bool scaleInFloat)
    {
        float scale = v.Source.Scale;
        return scaleInFloat ? new Point2((float)p.X * scale, (float)p.Y * scale) : new Point2(p.X * (double)scale, p.Y * (double)scale);
    }

    /// <summary>Original source pixels between a point and its round trip source -> target -> source.</summary>
    private static double CycleError(Variant v, Point2 resized, Point2 landed)
    {
        var back = v.Backward.Transfer(landed);
        return back.DistanceTo(resized) / v.Source.Scale;
    }

    /// <summary>A landing point of a variant's (possibly mirrored) target view in original target pixels.</summary>
    private static Point2 Original(Variant v, Point2 landed)
    {
        var unmirrored = v.Target.Flipped ? new Point2(v.Target.Width - 1 - landed.X, landed.Y) : landed;
        return new Point2(unmirrored.X / v.Target.Scale, unmirrored.Y / v.Target.Scale);
    }

    /// <summary>
    /// The dense source -> target flow in original pixels (width x height of the source image); with a positive
    /// <paramref name="consistencyFilter"/>, pixels whose round trip misses by more than that many source pixels are NaN.
    /// </summary>
    public FlowField Flow(int width, int height, double consistencyFilter)
    {
        var data = new float[width * height * 2];
        Parallel.For(0, height, y =>
        {
            for (int x = 0; x < width; x++)
            {
                // Only what the flow needs: the round trip when filtering (the confidences only to choose a variant).
                var p = new Point2(x, y);
                var v = _variants[MostConfident(p, scaleInFloat: false)];
                var resized = Resized(v, p, scaleInFloat: false);
                var landed = v.Forward.Transfer(resized);
                var target = Original(v, landed);
                bool keep = consistencyFilter <= 0 || CycleError(v, resized, landed) <= consistencyFilter;
                data[2 * (y * width + x)] = keep ? (float)(target.X - x) : float.NaN;
                data[2 * (y * width + x) + 1] = keep ? (float)(target.Y - y) : float.NaN;
            }
        });
        return new FlowField(width, height, data);
    }
}
