using System.Text;
using System.Text.Json;

namespace HyperpixelFlow.Evaluation;

/// <summary>
/// A setting the knob search may change: its name, the values it tries (each as a change of the options) and, for a
/// setting that only means something in some configurations, when it applies (null = always).
/// </summary>
public sealed record Knob(string Name, IReadOnlyList<(string Value, Func<HyperpixelFlowOptions, HyperpixelFlowOptions> Apply)> Values,
    Func<HyperpixelFlowOptions, bool>? AppliesTo = null);

/// <summary>One scored configuration of the knob search.</summary>
public sealed record KnobScore(string Configuration, double Score, double SecondsPerPair);

/// <summary>
/// Greedy coordinate search of the method's knobs on a validation split: knob after knob, every value is evaluated
/// with the other knobs at their best so far, and the best value is kept (ties keep the earlier, i.e. the simpler,
/// value). Every configuration is a full evaluation through <see cref="Evaluator"/> with its own results file in
/// <c>resultsFolder</c> (so an interrupted search resumes pair by pair), and its score is appended to a JSON-lines log.
/// </summary>
public sealed class KnobSearch(Func<HyperpixelFlowOptions, HyperpixelMatcher> createMatcher, BenchmarkDataset dataset, double alpha, PckThreshold threshold)
{
    /// <summary>Whether the options match with optimal transport (its settings mean nothing otherwise).</summary>
    public static bool UnderOptimalTransport(HyperpixelFlowOptions options) => string.Equals(options.Matching.Name, "ot", StringComparison.OrdinalIgnoreCase);

    /// <summary>The method's levers beyond the layers, in the order they are searched.</summary>
    public static IReadOnlyList<Knob> DefaultKnobs { get; } =
    [
        new("matching", [("rhm", o => o with { Matching = o.Matching with { Name = "rhm" } }), ("ot", o => o with { Matching = o.Matching with { Name = "ot" } })]),
        new("ot epsilon", [("0.05", o => o), ("0.03", o => o with { Matching = o.Matching with { OptimalTransport = o.Matching.OptimalTransport with { Epsilon = 0.03 } } }),
            ("0.1", o => o with { Matching = o.Matching with { OptimalTransport = o.Matching.OptimalTransport with { Epsilon = 0.1 } } })], UnderOptimalTransport),
        new("ot plan exponent", [("0.5", o => o), ("1", o => o with { Matching = o.Matching with { OptimalTransport = o.Matching.OptimalTransport with { PlanExponent = 1 } } })],
            UnderOptimalTransport),
        new("soft-argmax radius", [("0", o => o), ("1", o => o with { Matching = o.Matching with { SubHyperpixelRadius = 1 } }), ("2", o => o with { Matching = o.Matching with { SubHyperpixelRadius = 2 } })]),
        new("target flip", [("off", o => o), ("on", o => o with { Image = o.Image with { FlipTarget = true } })]),
        new("scales", [("1", o => o), ("1,0.75", o => o with { Image = o.Image with { Scales = [1, 0.75] } })]),
        // Last, so that the knobs above are chosen at the start's working side and this step prices the resolution alone.
        new("working side", [("as started", o => o), ("300", o => o with { Image = o.Image with { MaxSide = 300, Upscale = false } }),
            ("400 (upscale)", o => o with { Image = o.Image with { MaxSide = 400, Upscale = true } })]),
    ];

    /// <summary>Searches <paramref name="knobs"/> from <paramref name="start"/>, keeping each configuration's results under <paramref name="resultsFolder"/>; returns the chosen options and every score (stops early, with what it has, when cancelled).</summary>
    public (HyperpixelFlowOptions Best, IReadOnlyList<KnobScore> Scores) Run(HyperpixelFlowOptions start, IReadOnlyList<Knob> knobs, string resultsFolder,
        Action<KnobScore>? onScored = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(resultsFolder);
        var logPath = Path.Combine(resultsFolder, "knobs.jsonl");
        var scores = new List<KnobScore>();
        var best = start;
        using var log = new StreamWriter(logPath, append: true, new UTF8Encoding(false)) { AutoFlush = true };
        foreach (var knob in knobs)
        {
            if (knob.AppliesTo is { } applies && !applies(best)) continue;
            var candidates = new List<(HyperpixelFlowOptions Options, double Score)>();
            foreach (var (_, apply) in knob.Values)
            {
                if (cancel.IsCancellationRequested) return (best, scores);
                var options = apply(best);
                var score = Evaluate(options, resultsFolder, cancel);
                if (score is null) return (best, scores);
                scores.Add(score);
                log.WriteLine(JsonSerializer.Serialize(new { knob = knob.Name, configuration = score.Configuration, score = score.Score, seconds_per_pair = score.SecondsPerPair }));
                onScored?.Invoke(score);
                candidates.Add((options, score.Score));
            }
            best = candidates.First(c => c.Score == candidates.Max(x => x.Score)).Options;
        }
        return (best, scores);
    }

    /// <summary>Mean PCK@alpha of one configuration (null when interrupted); resumes its own results file.</summary>
    private KnobScore? Evaluate(HyperpixelFlowOptions options, string folder, CancellationToken cancel)
    {
        using var matcher = createMatcher(options);
        var evaluator = new Evaluator(matcher);
        var settings = evaluator.SettingsFor(dataset, [alpha], threshold);
        string configuration = $"layers {string.Join(",", settings.Layers)}, max side {options.Image.MaxSide}, {options.DescribeMethod()}";
        string file = Path.Combine(folder, $"{settings.Fingerprint()}.jsonl");
        var summary = evaluator.Run(dataset, [alpha], threshold, file, cancel: cancel);
        return summary.Complete
            ? new KnobScore(configuration, summary.Pck[PairResult.AlphaKey(alpha)], summary.SecondsPerPair)
            : null;
    }
}
