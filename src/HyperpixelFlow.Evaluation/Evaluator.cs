using System.Diagnostics;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow.Evaluation;

/// <summary>
/// Runs a matcher over a benchmark: every image goes through the backbone once while it stays in a bounded cache,
/// every finished pair is appended to a results log (so an interrupted run resumes where it stopped), and the
/// summary is computed from all logged pairs.
/// </summary>
public sealed class Evaluator(HyperpixelMatcher matcher, int cachedImages = 64)
{
    /// <summary>The matcher every pair runs through.</summary>
    public HyperpixelMatcher Matcher { get; } = matcher;

    /// <summary>What a run on this split with these alphas and threshold depends on (its results file records it).</summary>
    public EvaluationSettings SettingsFor(BenchmarkDataset dataset, IReadOnlyList<double> alphas, PckThreshold threshold) =>
        new(dataset.Name, dataset.Split, Path.GetFullPath(dataset.Root), Hashing.OfPairs(dataset), Matcher.Backbone.Name,
            WeightsIdentity(Matcher.Options), Matcher.Layers, RecordedSettings(Matcher.Options), alphas, Resolve(dataset, threshold).ToString());

    /// <summary>The result settings, plus the calibration file's hash when one is given (it changes the logged confidences).</summary>
    private static SortedDictionary<string, string> RecordedSettings(HyperpixelFlowOptions options)
    {
        var settings = options.ResultSettings();
        if (options.Runtime.CalibrationPath is { } path) settings["Runtime.Calibration"] = FileHashes.Identity(path);
        return settings;
    }

    /// <summary>"bundled sha256:..." or "sha256:..." of the weights file in use: other weights never share results.</summary>
    public static string WeightsIdentity(HyperpixelFlowOptions options) => options.Hyperpixels.WeightsPath is { } path
        ? FileHashes.Identity(path)
        : File.Exists(Backbones.BackboneRegistry.BundledWeightsPath)
            ? $"bundled {FileHashes.Identity(Backbones.BackboneRegistry.BundledWeightsPath)}"
            : "bundled";

    /// <summary>The threshold convention to use: the dataset's own for <see cref="PckThreshold.Auto"/>.</summary>
    public static PckThreshold Resolve(BenchmarkDataset dataset, PckThreshold threshold) =>
        threshold == PckThreshold.Auto ? dataset.DefaultThreshold : threshold;

    /// <summary>The kind of run an evaluation results log holds.</summary>
    internal const string LogKind = "evaluation";

    /// <summary>
    /// Evaluates the first <paramref name="limit"/> pairs (all when null), or the <paramref name="shard"/> of them,
    /// resuming from <paramref name="resultsPath"/>. <paramref name="progress"/> receives (pairs done, pairs to do)
    /// after each pair. Cancellation stops between pairs; what was finished is kept in the log and in the returned
    /// (partial) summary. A shard's summary covers its own pairs; <c>hpf merge</c> joins the shards' logs.
    /// </summary>
    public EvaluationSummary Run(BenchmarkDataset dataset, IReadOnlyList<double> alphas, PckThreshold threshold, string resultsPath,
        int? limit = null, bool restart = false, Action<int, int>? progress = null, Shard? shard = null, CancellationToken cancel = default)
    {
        if (alphas.Count == 0 || alphas.Any(a => a <= 0 || !double.IsFinite(a))) throw new HyperpixelFlowException("alphas must be positive numbers");
        var settings = SettingsFor(dataset, alphas, threshold);
        var kind = Resolve(dataset, threshold);
        var pairs = dataset.Pairs.Take(limit ?? int.MaxValue).ToList();
        using var run = ResumableRun<EvaluationSettings, PairResult>.Open(resultsPath, LogKind, settings, shard ?? Shard.Whole, pairs.Count, restart, progress);
        var results = run.Existing.ToList();
        using var cache = new LruCache<string, ImageDescription>(cachedImages);
        foreach (int i in run.Todo)
        {
            if (cancel.IsCancellationRequested) break;
            var result = EvaluatePair(i, pairs[i], kind, alphas, cache);
            run.Append(result);
            results.Add(result);
        }
        return EvaluationSummary.From(settings, results.OrderBy(r => r.Index).ToList(), run.Owned.Count);
    }

    private PairResult EvaluatePair(int index, BenchmarkPair pair, PckThreshold kind, IReadOnlyList<double> alphas,
        LruCache<string, ImageDescription> cache)
    {
        var watch = Stopwatch.StartNew();
        var source = cache.GetOrAdd(pair.SourceImage, Matcher.Describe);
        var target = cache.GetOrAdd(pair.TargetImage, Matcher.Describe);
        var prediction = Matcher.Predict(source, target);
        var transferred = prediction.TransferAll(pair.SourcePoints);
        var predicted = transferred.Select(p => p.TargetInPrimaryFrame).ToList();
        var truth = Resized(pair.TargetPoints, target.Primary.Scale);
        List<PointOutcome>? outcomes = null;
        var correct = new Dictionary<string, int>();
        double threshold = 0;
        double? accuracy = null, iou = null;
        if (pair.SourceMask is not null && pair.TargetMask is not null)
        {
            int w = target.Primary.Width, h = target.Primary.Height;
            var (a, u) = Metrics.MaskAgreement(Metrics.Rasterize(predicted, w, h), Metrics.Rasterize(truth, w, h));
            (accuracy, iou) = (a, u);
            predicted = [];
        }
        else
        {
            threshold = Metrics.PckThresholdPixels(pair, kind, target.OriginalWidth, target.OriginalHeight, target.Primary.Scale);
            foreach (var alpha in alphas) correct[PairResult.AlphaKey(alpha)] = Metrics.CorrectKeypoints(predicted, truth, threshold, alpha);
            outcomes = transferred.Select((p, i) => PointOutcome.Of(p, predicted[i], truth[i], threshold)).ToList();
        }
        return new PairResult(index, pair.Id, pair.Category, pair.SourceMask is null ? pair.SourcePoints.Count : 0, threshold, correct,
            pair.Labels, accuracy, iou, predicted.Select(p => new[] { Math.Round(p.X, 4), Math.Round(p.Y, 4) }).ToArray(),
            watch.Elapsed.TotalSeconds, outcomes);
    }

    /// <summary>Matches two described images and transfers source points (original pixels) into the target's primary resized pixels.</summary>
    public static List<Point2> PredictResized(HyperpixelMatcher matcher, ImageDescription source, ImageDescription target,
        IReadOnlyList<Point2> sourcePoints)
    {
        var prediction = matcher.Predict(source, target);
        return sourcePoints.Select(p => prediction.Transfer(p).TargetInPrimaryFrame).ToList();
    }

    /// <summary>Points in resized pixels, scaled in float32 as the reference code does.</summary>
    public static List<Point2> Resized(IReadOnlyList<Point2> points, float scale) =>
        points.Select(p => new Point2((float)p.X * scale, (float)p.Y * scale)).ToList();
}
