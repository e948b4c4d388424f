using System.Diagnostics;
using System.Threading.Channels;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;

namespace HyperpixelFlow.Evaluation.Batch;

/// <summary>A named point of an exemplar, in its original pixels.</summary>
internal sealed record NamedPoint(string Name, Point2 Point);

/// <summary>One item of a transfer: the exemplar's points to carry onto the target image.</summary>
internal sealed record TransferItem(string Exemplar, string Target, IReadOnlyList<NamedPoint> Points);

/// <summary>
/// A transferred point as a results line holds it: original pixels of both images; confidence = the calibrated
/// probability that it is right (null where the settings have no calibration), score = the uncalibrated ranking score.
/// </summary>
internal sealed record TransferredPoint(string Name, double[] Source, double[] Target, double? Confidence, double? Score, bool Mutual, double? CycleErrorPx);

/// <summary>
/// One finished target: its points, or the reason it failed (the run goes on). <see cref="ExpectedCorrect"/> is the
/// mean calibrated confidence of its points, the fraction of them expected to be right: which targets need a look.
/// </summary>
internal sealed record TransferLine(int Index, string Exemplar, string Target, int? Width, int? Height,
    IReadOnlyList<TransferredPoint>? Points, string? Error, string? Picture, double Seconds, double? ExpectedCorrect = null) : ILoggedItem;

/// <summary>A target to look at: its expected fraction of right points and the points below the confidence asked for.</summary>
internal sealed record ReviewItem(int Index, string Target, double? ExpectedCorrect, IReadOnlyList<string> PointsBelow);

/// <summary>
/// What a transfer's results depend on: the work list's content (every item's exemplar content hash, target path
/// and size, points and names), the backbone and every result-changing option. <see cref="Work"/> describes the list
/// for people and is not compared.
/// </summary>
internal sealed record TransferSettings(string Work, string WorkListHash, string Backbone, string Weights, IReadOnlyList<int> Layers,
    IReadOnlyDictionary<string, string> Options) : RunSettings
{
    protected override IEnumerable<(string Name, string Value)> Fields()
    {
        yield return ("work list", WorkListHash);
        foreach (var field in MatcherFields(Backbone, Weights, Layers, Options)) yield return field;
    }

    /// <summary>The content hash of a work list; target paths are taken relative to <paramref name="targetRoot"/> so that a list means the same on every machine that mounts it elsewhere.</summary>
    public static string HashOf(IReadOnlyList<TransferItem> items, string targetRoot)
    {
        var exemplars = new Dictionary<string, string>();
        var text = new System.Text.StringBuilder();
        foreach (var item in items)
        {
            if (!exemplars.TryGetValue(item.Exemplar, out var exemplar))
                exemplars[item.Exemplar] = exemplar = File.Exists(item.Exemplar) ? FileHashes.Sha256(item.Exemplar) : "missing";
            var target = new FileInfo(item.Target);
            text.Append(exemplar).Append('|').Append(Path.GetRelativePath(targetRoot, target.FullName)).Append(':')
                .Append(target.Exists ? target.Length : -1).Append('|')
                .AppendJoin(";", item.Points.Select(p => FormattableString.Invariant($"{p.Name}={p.Point.X:R},{p.Point.Y:R}"))).Append('\n');
        }
        return Hashing.Of(text.ToString());
    }
}

/// <summary>The outcome of a (possibly partial, possibly sharded) transfer.</summary>
internal sealed record TransferSummary(int Items, int Done, int Failed, IReadOnlyDictionary<string, int> FailureReasons, double Seconds,
    double ImagesPerSecond, bool Complete);

/// <summary>
/// Carries exemplar points onto many target images: every exemplar is described once (kept in a small cache), the
/// next targets are decoded on another thread while the current one is matched, every finished target is appended to
/// a resumable results log (an unreadable image becomes an error line; the run goes on), and memory stays bounded
/// whatever the number of targets.
/// </summary>
internal sealed class BatchTransfer(HyperpixelMatcher matcher)
{
    public const string LogKind = "transfer";
    private const int DecodeAhead = 3;

    public HyperpixelMatcher Matcher { get; } = matcher;

    public TransferSettings SettingsFor(IReadOnlyList<TransferItem> items, string targetRoot, string work) =>
        new(work, TransferSettings.HashOf(items, targetRoot), Matcher.Backbone.Name, Evaluator.WeightsIdentity(Matcher.Options),
            Matcher.Layers, Matcher.Options.ResultSettings());

    /// <summary>
    /// Runs the shard's items not yet in the log. <paramref name="progress"/> receives (done, to do) after each item;
    /// cancellation stops between items, keeping what was finished.
    /// </summary>
    public TransferSummary Run(IReadOnlyList<TransferItem> items, TransferSettings settings, string resultsPath, Shard shard, bool restart,
        string? picturesFolder, Action<int, int>? progress = null, CancellationToken cancel = default)
    {
        var watch = Stopwatch.StartNew();
        using var run = ResumableRun<TransferSettings, TransferLine>.Open(resultsPath, LogKind, settings, shard, items.Count, restart, progress);
        var errors = run.Existing.Where(l => l.Error is not null).Select(l => l.Error!).ToList();
        if (picturesFolder is not null) Directory.CreateDirectory(picturesFolder);
        int newlyDone = 0;
        using var exemplars = new LruCache<string, Exemplar>(4);
        var decoded = Channel.CreateBounded<(int Index, RgbImage? Image, string? Error)>(DecodeAhead);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        long maxPixels = Matcher.Options.Runtime.MaxImagePixels;
        var decoder = Task.Run(async () =>
        {
            try
            {
                foreach (int i in run.Todo)
                {
                    if (stop.IsCancellationRequested) break;
                    (int, RgbImage?, string?) next;
                    try { next = (i, ImageLoader.Load(items[i].Target, maxPixels), null); }
                    catch (HyperpixelFlowException e) { next = (i, null, e.Message); }
                    await decoded.Writer.WriteAsync(next, stop.Token);
                }
            }
            catch (OperationCanceledException) { }
            finally { decoded.Writer.Complete(); }
        }, CancellationToken.None);   // always started: it completes the channel the loop below waits on
        try
        {
            while (!cancel.IsCancellationRequested && decoded.Reader.WaitToReadAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult())
            {
                if (!decoded.Reader.TryRead(out var next)) continue;
                var itemWatch = Stopwatch.StartNew();
                var item = items[next.Index];
                TransferLine line;
                try
                {
                    if (next.Error is not null) throw new HyperpixelFlowException(next.Error);
                    var exemplar = exemplars.GetOrAdd(item.Exemplar, path => Exemplar.Load(Matcher, path));
                    line = Transfer(next.Index, item, exemplar, next.Image!, picturesFolder, itemWatch);
                }
                catch (HyperpixelFlowException e)
                {
                    line = new TransferLine(next.Index, item.Exemplar, item.Target, null, null, null, e.Message, null, itemWatch.Elapsed.TotalSeconds);
                    errors.Add(e.Message);
                }
                run.Append(line);
                newlyDone++;
            }
        }
        finally
        {
            stop.Cancel();
            decoder.GetAwaiter().GetResult();
        }
        double seconds = watch.Elapsed.TotalSeconds;
        return new TransferSummary(run.Owned.Count, run.Done, errors.Count, FailureReasons(errors), seconds, newlyDone / Math.Max(seconds, 1e-9), run.Complete);
    }

    private TransferLine Transfer(int index, TransferItem item, Exemplar exemplar, RgbImage target, string? picturesFolder, Stopwatch watch)
    {
        HyperpixelMatcher.ValidatePoints(item.Points.Select(p => p.Point).ToList(), exemplar.Image);
        using var description = Matcher.Describe(target, role: PairSide.Target);
        var prediction = Matcher.Predict(exemplar.Description, description);
        var matches = prediction.MatchAll(item.Points.Select(p => p.Point).ToList());
        string? picture = null;
        if (picturesFolder is not null)
        {
            picture = $"{index:D6}.png";
            using var bitmap = Pictures.Correspondences(exemplar.Image, target, matches);
            Pictures.SavePng(bitmap, Path.Combine(picturesFolder, picture));
        }
        var points = item.Points.Zip(matches, (p, m) => new TransferredPoint(p.Name, [m.Source.X, m.Source.Y], [Math.Round(m.Target.X, 3), Math.Round(m.Target.Y, 3)],
            JsonNumbers.Rounded(m.Confidence, 4), JsonNumbers.Rounded(m.Score, 4), m.Mutual, JsonNumbers.Rounded(m.CycleError, 3))).ToList();
        double? expected = PointMatch.ExpectedCorrect(matches) is { } e ? Math.Round(e, 4) : null;
        return new TransferLine(index, item.Exemplar, item.Target, target.Width, target.Height, points, null, picture, watch.Elapsed.TotalSeconds, expected);
    }

    /// <summary>
    /// The targets to look at, worst first: those with a point whose calibrated confidence is below
    /// <paramref name="minConfidence"/> (the points are kept in the results, only listed here), ordered by their
    /// expected fraction of right points.
    /// </summary>
    public static IReadOnlyList<ReviewItem> Review(IEnumerable<TransferLine> lines, double minConfidence) =>
        lines.Where(l => l.Points is not null)
            .Select(l => new ReviewItem(l.Index, l.Target, l.ExpectedCorrect,
                l.Points!.Where(p => p.Confidence is { } c && c < minConfidence).Select(p => p.Name).ToList()))
            .Where(r => r.PointsBelow.Count > 0)
            .OrderBy(r => r.ExpectedCorrect ?? 0).ThenBy(r => r.Index).ToList();

    /// <summary>Failures counted by reason: each error message without the file it names.</summary>
    public static IReadOnlyDictionary<string, int> FailureReasons(IEnumerable<string> errors) =>
        errors.GroupBy(error => error.IndexOf(": ", StringComparison.Ordinal) is var colon and >= 0 ? error[(colon + 2)..] : error)
            .ToDictionary(g => g.Key, g => g.Count());

    /// <summary>A decoded exemplar and its hyperpixels (the latter released when the cache lets it go).</summary>
    private sealed class Exemplar(RgbImage image, ImageDescription description) : IDisposable
    {
        public RgbImage Image { get; } = image;
        public ImageDescription Description { get; } = description;

        public static Exemplar Load(HyperpixelMatcher matcher, string path)
        {
            var image = ImageLoader.Load(path, matcher.Options.Runtime.MaxImagePixels);
            return new Exemplar(image, matcher.Describe(image, role: PairSide.Source));
        }

        public void Dispose() => Description.Dispose();
    }
}
