using System.Text;
using System.Text.Json;
using HyperpixelFlow.Hyperpixels;
using HyperpixelFlow.Imaging;
using static TorchSharp.torch;

namespace HyperpixelFlow.Evaluation;

/// <summary>Every candidate layer of one image, computed once for a whole search.</summary>
internal sealed class CandidateFeatures(Tensor[] features, PreparedImageInfo info) : IDisposable
{
    public Tensor[] Features { get; } = features;
    public PreparedImageInfo Info { get; } = info;
    public void Dispose() { foreach (var f in Features) f.Dispose(); }
}

/// <summary>Size and resize factor of a prepared image, without its pixels.</summary>
internal readonly record struct PreparedImageInfo(int Width, int Height, float Scale, int OriginalWidth, int OriginalHeight);

/// <summary>One scored layer combination.</summary>
public sealed record BeamCandidate(IReadOnlyList<int> Layers, double Score, int Depth);

/// <summary>
/// The paper's beam search of hyperpixel layers: start from the single ids 0..3; at every depth extend each kept
/// combination by one id greater than its smallest id (no duplicates), score every new combination by mean PCK@alpha
/// over the split, keep the best <c>beam</c>, and remember the best seen. Each image runs through the backbone once
/// (all candidate layers cached), so a candidate costs hyperpixel assembly and matching only. Scores are appended to a
/// JSON-lines log as they are computed; a re-run with equal settings skips combinations already scored.
/// </summary>
public sealed class BeamSearch(HyperpixelMatcher matcher, BenchmarkDataset dataset, double alpha, PckThreshold threshold)
{
    /// <summary>What a search's scores depend on: the evaluation settings (without layers, which the search varies) and the beam.</summary>
    public sealed record Settings(EvaluationSettings Evaluation, int Beam, int Depth)
    {
        /// <summary>The fields that differ from <paramref name="other"/>, as "name: this vs other".</summary>
        public IReadOnlyList<string> Differences(Settings other) =>
        [
            .. Evaluation.Differences(other.Evaluation),
            .. Beam != other.Beam ? [$"beam: {Beam} vs {other.Beam}"] : Array.Empty<string>(),
            .. Depth != other.Depth ? [$"depth: {Depth} vs {other.Depth}"] : Array.Empty<string>(),
        ];
    }

    /// <summary>The settings of a search with this matcher, data and beam (file names use their fingerprint).</summary>
    public Settings SettingsFor(int beam, int depth) =>
        new(new Evaluator(matcher).SettingsFor(dataset, [alpha], threshold) with { Layers = [] }, beam, depth);

    /// <summary>The single layer ids the search starts from (the paper's 0..3).</summary>
    public IReadOnlyList<int> StartIds { get; init; } = [0, 1, 2, 3];

    /// <summary>Seconds spent in the backbone filling the cache, and the backbone runs it saved.</summary>
    public double BackboneSeconds { get; private set; }
    /// <summary>Backbone runs made (each image once per run).</summary>
    public int BackboneRuns { get; private set; }
    /// <summary>Combinations scored in this run (those already in the log are not counted).</summary>
    public int CandidatesScored { get; private set; }

    /// <summary>Runs the search, logging every score to <paramref name="logPath"/> and resuming from it; returns the best combination. <paramref name="onScored"/> gets each candidate and whether it came from the log.</summary>
    public BeamCandidate Run(int beam, int depth, string logPath, Action<BeamCandidate, bool>? onScored = null, CancellationToken cancel = default)
    {
        if (beam < 1 || depth < 1) throw new HyperpixelFlowException("beam and depth must be at least 1");
        if (matcher.Options.Hyperpixels.Stride != 0 || matcher.Options.Hyperpixels.TargetStride != 0)
            throw new HyperpixelFlowException("beam search scores layers on the finest hyperpixel grid of both images; set the hyperpixel and target strides to 0 (--target-stride 0)");
        if (matcher.Options.Image.Scales is not [1.0] || matcher.Options.Image.FlipTarget)
            throw new HyperpixelFlowException("beam search scores layers on one view of each image; leave --scales and --flip out (the knob search tries them)");
        int candidates = matcher.Backbone.CandidateCount;
        var kind = Evaluator.Resolve(dataset, threshold);
        var settings = SettingsFor(beam, depth);
        var known = OpenLog(logPath, settings);
        bool fresh = !File.Exists(logPath) || new FileInfo(logPath).Length == 0;
        using var log = new StreamWriter(logPath, append: true, new UTF8Encoding(false)) { AutoFlush = true };
        if (fresh) log.WriteLine(JsonSerializer.Serialize(new { settings }));
        using var cache = new LruCache<string, CandidateFeatures>(Math.Max(2, dataset.Pairs.Count * 2));
        var allIds = Enumerable.Range(0, candidates).ToList();

        BeamCandidate Score(IReadOnlyList<int> layers, int level)
        {
            string key = string.Join(",", layers);
            if (known.TryGetValue(key, out double cached))
            {
                var again = new BeamCandidate(layers, cached, level);
                onScored?.Invoke(again, true);
                return again;
            }
            double score = MeanPck(layers, kind, cache, allIds);
            var candidate = new BeamCandidate(layers, score, level);
            known[key] = score;
            CandidatesScored++;
            log.WriteLine(JsonSerializer.Serialize(new { layers, score, depth = level }));
            onScored?.Invoke(candidate, false);
            return candidate;
        }

        var level1 = StartIds.Where(id => id < candidates).Select(id => Score([id], 1)).ToList();
        var kept = level1.OrderByDescending(c => c.Score).Take(beam).ToList();
        var best = kept[0];
        for (int d = 2; d <= depth && !cancel.IsCancellationRequested; d++)
        {
            var scored = new List<BeamCandidate>();
            var seen = new HashSet<string>();
            foreach (var parent in kept)
                foreach (int id in allIds)
                {
                    if (cancel.IsCancellationRequested) break;
                    if (parent.Layers.Contains(id) || id <= parent.Layers.Min()) continue;
                    var layers = parent.Layers.Append(id).Order().ToList();
                    if (!seen.Add(string.Join(",", layers))) continue;
                    scored.Add(Score(layers, d));
                }
            if (scored.Count == 0) break;
            kept = scored.OrderByDescending(c => c.Score).Take(beam).ToList();
            if (kept[0].Score > best.Score) best = kept[0];
        }
        return best;
    }

    private static Dictionary<string, double> OpenLog(string path, Settings settings)
    {
        var known = new Dictionary<string, double>();
        if (!File.Exists(path)) return known;
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            JsonElement e;
            try { e = JsonDocument.Parse(lines[i]).RootElement; }
            catch (JsonException) when (i == lines.Length - 1) { break; } // a half-written last line
            catch (JsonException) { throw new DatasetFormatException(path, i + 1, "unreadable beam-search log line; delete the file to start over"); }
            if (i == 0)
            {
                if (!e.TryGetProperty("settings", out var header))
                    throw new DatasetFormatException(path, 1, "not a beam-search log (no settings line); delete it or pass another --log");
                var logged = header.Deserialize<Settings>();
                if (logged?.Evaluation?.Options is null)
                    throw new HyperpixelFlowException($"{path} has a settings line this version cannot compare; pass another --log or delete it");
                var differences = settings.Differences(logged);
                if (differences.Count > 0)
                    throw new HyperpixelFlowException($"{path} was written for other settings (now vs log: {string.Join("; ", differences)}); pass another --log or delete it");
                continue;
            }
            if (!e.TryGetProperty("layers", out _) || !e.TryGetProperty("score", out _))
                throw new DatasetFormatException(path, i + 1, "beam-search log line without layers and score");
            known[string.Join(",", e.GetProperty("layers").EnumerateArray().Select(v => v.GetInt32()))] = e.GetProperty("score").GetDouble();
        }
        return known;
    }

    /// <summary>Mean PCK@alpha (percent) of a layer combination over the split.</summary>
    internal double MeanPck(IReadOnlyList<int> layers, PckThreshold kind, LruCache<string, CandidateFeatures> cache, IReadOnlyList<int> allIds)
    {
        var described = new Dictionary<string, ImageDescription>();
        try
        {
            ImageDescription Describe(string path)
            {
                if (described.TryGetValue(path, out var entry)) return entry;
                var features = cache.GetOrAdd(path, p => Extract(p, allIds));
                var selected = layers.Select(l => features.Features[l]).ToList();
                var info = features.Info;
                var set = Hyperpixels.HyperpixelBuilder.Build(selected, layers, matcher.Backbone, info.Width, info.Height, matcher.Options.Hyperpixels.MarginPruning);
                return described[path] = new ImageDescription([new ImageView(1, false, info.Scale, info.Width, info.Height, set, set)],
                    info.OriginalWidth, info.OriginalHeight);
            }
            double sum = 0;
            int counted = 0;
            foreach (var pair in dataset.Pairs)
            {
                var source = Describe(pair.SourceImage);
                var target = Describe(pair.TargetImage);
                if (pair.SourcePoints.Count == 0) continue;
                var predicted = Evaluator.PredictResized(matcher, source, target, pair.SourcePoints);
                var truth = Evaluator.Resized(pair.TargetPoints, target.Primary.Scale);
                double thresholdPixels = Metrics.PckThresholdPixels(pair, kind, target.OriginalWidth, target.OriginalHeight, target.Primary.Scale);
                sum += (double)Metrics.CorrectKeypoints(predicted, truth, thresholdPixels, alpha) / truth.Count;
                counted++;
            }
            return counted == 0 ? double.NaN : 100 * sum / counted;
        }
        finally
        {
            foreach (var description in described.Values) description.Dispose();
        }
    }

    private CandidateFeatures Extract(string path, IReadOnlyList<int> allIds)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var image = ImageLoader.Load(path, matcher.Options.Runtime.MaxImagePixels);
        using var prepared = matcher.Prepare(image);
        var features = matcher.ExtractFeatures(prepared, allIds);
        BackboneSeconds += watch.Elapsed.TotalSeconds;
        BackboneRuns++;
        return new CandidateFeatures(features, new PreparedImageInfo(prepared.Width, prepared.Height, prepared.Scale, image.Width, image.Height));
    }
}
