using System.Diagnostics;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;
using HyperpixelFlow.Imaging;

namespace HyperpixelFlow.Evaluation;

/// <summary>Hyperpixels of one image with the geometry needed to map points into its resized frame.</summary>
public sealed class ImageHyperpixels(HyperpixelSet asSource, HyperpixelSet asTarget, float scale, int originalWidth, int originalHeight)
    : IDisposable
{
    /// <summary>The hyperpixels for pairs where the image is the source.</summary>
    public HyperpixelSet AsSource { get; } = asSource;
    /// <summary>The hyperpixels for pairs where it is the target: the same set unless the target grid has its own stride.</summary>
    public HyperpixelSet AsTarget { get; } = asTarget;
    public float Scale { get; } = scale;
    public int OriginalWidth { get; } = originalWidth;
    public int OriginalHeight { get; } = originalHeight;

    public void Dispose()
    {
        AsSource.Dispose();
        if (!ReferenceEquals(AsTarget, AsSource)) AsTarget.Dispose();
    }

    /// <summary>Decodes, resizes and runs the backbone on an image file, keeping only its hyperpixels (for either side).</summary>
    public static ImageHyperpixels Extract(HyperpixelMatcher matcher, string path)
    {
        var image = ImageLoader.Load(path, matcher.Options.MaxImagePixels);
        using var prepared = matcher.Prepare(image);
        var features = matcher.ExtractFeatures(prepared, matcher.Layers);
        try
        {
            var asSource = matcher.BuildHyperpixels(features, matcher.Layers, prepared, PairSide.Source);
            var asTarget = matcher.Options.EffectiveTargetStride == matcher.Options.HyperpixelStride
                ? asSource
                : matcher.BuildHyperpixels(features, matcher.Layers, prepared, PairSide.Target);
            return new ImageHyperpixels(asSource, asTarget, prepared.Scale, image.Width, image.Height);
        }
        finally
        {
            foreach (var f in features) f.Dispose();
        }
    }
}

/// <summary>
/// Runs a matcher over a benchmark: every image goes through the backbone once while it stays in a bounded cache,
/// every finished pair is appended to a results log (so an interrupted run resumes where it stopped), and the
/// summary is computed from all logged pairs.
/// </summary>
public sealed class Evaluator(HyperpixelMatcher matcher, int cachedImages = 64)
{
    public HyperpixelMatcher Matcher { get; } = matcher;

    public EvaluationSettings SettingsFor(BenchmarkDataset dataset, IReadOnlyList<double> alphas, PckThreshold threshold) =>
        new(dataset.Name, dataset.Split, Matcher.Backbone.Name, Matcher.Layers, Matcher.Options.MaxSide, Matcher.Options.MarginPruning,
            alphas, Resolve(dataset, threshold).ToString(), Matcher.Options.HyperpixelStride, Matcher.Options.TargetHyperpixelStride,
            Matcher.Options.DescribeMatching());

    public static PckThreshold Resolve(BenchmarkDataset dataset, PckThreshold threshold) =>
        threshold == PckThreshold.Auto ? dataset.DefaultThreshold : threshold;

    /// <summary>
    /// Evaluates the first <paramref name="limit"/> pairs (all when null), resuming from <paramref name="resultsPath"/>.
    /// <paramref name="progress"/> receives (pairs done, pairs to do) after each pair. Cancellation stops between
    /// pairs; what was finished is kept in the log and in the returned (partial) summary.
    /// </summary>
    public EvaluationSummary Run(BenchmarkDataset dataset, IReadOnlyList<double> alphas, PckThreshold threshold, string resultsPath,
        int? limit = null, bool restart = false, Action<int, int>? progress = null, CancellationToken cancel = default)
    {
        if (alphas.Count == 0 || alphas.Any(a => a <= 0 || !double.IsFinite(a))) throw new HyperpixelFlowException("alphas must be positive numbers");
        var settings = SettingsFor(dataset, alphas, threshold);
        var kind = Resolve(dataset, threshold);
        var pairs = dataset.Pairs.Take(limit ?? int.MaxValue).ToList();
        using var log = ResultsLog.Open(resultsPath, settings, restart);
        var results = log.Existing.Where(r => r.Index < pairs.Count).ToList();
        var done = results.Select(r => r.Index).ToHashSet();
        using var cache = new LruCache<string, ImageHyperpixels>(cachedImages);
        progress?.Invoke(done.Count, pairs.Count);
        for (int i = 0; i < pairs.Count && !cancel.IsCancellationRequested; i++)
        {
            if (done.Contains(i)) continue;
            var result = EvaluatePair(i, pairs[i], kind, alphas, cache);
            log.Append(result);
            results.Add(result);
            progress?.Invoke(results.Count, pairs.Count);
        }
        return EvaluationSummary.From(settings, results.OrderBy(r => r.Index).ToList(), pairs.Count);
    }

    private PairResult EvaluatePair(int index, BenchmarkPair pair, PckThreshold kind, IReadOnlyList<double> alphas,
        LruCache<string, ImageHyperpixels> cache)
    {
        var watch = Stopwatch.StartNew();
        var source = cache.GetOrAdd(pair.SourceImage, p => ImageHyperpixels.Extract(Matcher, p));
        var target = cache.GetOrAdd(pair.TargetImage, p => ImageHyperpixels.Extract(Matcher, p));
        var predicted = PredictResized(Matcher, source.AsSource, source.Scale, target.AsTarget, pair.SourcePoints);
        var truth = Resized(pair.TargetPoints, target.Scale);
        var correct = new Dictionary<string, int>();
        double threshold = 0;
        double? accuracy = null, iou = null;
        if (pair.SourceMask is not null && pair.TargetMask is not null)
        {
            int w = target.AsTarget.ImageWidth, h = target.AsTarget.ImageHeight;
            var (a, u) = Metrics.MaskAgreement(Metrics.Rasterize(predicted, w, h), Metrics.Rasterize(truth, w, h));
            (accuracy, iou) = (a, u);
            predicted = [];
        }
        else
        {
            threshold = Metrics.PckThresholdPixels(pair, kind, target.OriginalWidth, target.OriginalHeight, target.Scale);
            foreach (var alpha in alphas) correct[PairResult.AlphaKey(alpha)] = Metrics.CorrectKeypoints(predicted, truth, threshold, alpha);
        }
        return new PairResult(index, pair.Id, pair.Category, pair.SourceMask is null ? pair.SourcePoints.Count : 0, threshold, correct,
            pair.Labels, accuracy, iou, predicted.Select(p => new[] { Math.Round(p.X, 4), Math.Round(p.Y, 4) }).ToArray(),
            watch.Elapsed.TotalSeconds);
    }

    /// <summary>Matches two hyperpixel sets and transfers source points (original pixels) into resized-target pixels.</summary>
    public static List<Point2> PredictResized(HyperpixelMatcher matcher, HyperpixelSet source, float sourceScale, HyperpixelSet target,
        IReadOnlyList<Point2> sourcePoints)
    {
        var match = matcher.MatchHyperpixels(source, target);
        var field = new DisplacementField(source.Grid, target.Grid, match.BestTargetOfSource);
        return Resized(sourcePoints, sourceScale).Select(field.Transfer).ToList();
    }

    /// <summary>Points in resized pixels, scaled in float32 as the reference code does.</summary>
    public static List<Point2> Resized(IReadOnlyList<Point2> points, float scale) =>
        points.Select(p => new Point2((float)p.X * scale, (float)p.Y * scale)).ToList();
}
