using HyperpixelFlow.Backbones;
using System.CommandLine;
using System.Globalization;
using HyperpixelFlow.Flow;

namespace HyperpixelFlow.Cli;

/// <summary>Options shared by the commands that run the matcher, and their parsing into <see cref="HyperpixelFlowOptions"/>.</summary>
internal sealed class CommonOptions
{
    private static readonly HyperpixelFlowOptions Defaults = new();

    public Option<string> Preset { get; } = new("--preset")
    {
        Description = "method settings: " + string.Join("; ", Presets.All.Select(p => $"{p.Name} = {p.Description}")) +
            ". Options given explicitly override the preset's",
        DefaultValueFactory = _ => Presets.DefaultName,
    };
    public Option<string> Backbone { get; } = new("--backbone") { Description = "backbone name (see 'hpf backbones')", DefaultValueFactory = _ => Backbones.BackboneRegistry.DefaultName };
    public Option<string?> Weights { get; } = new("--weights") { Description = "weights file (.pth / .safetensors) for backbones without bundled weights" };
    public Option<string?> Layers { get; } = new("--layers") { Description = "hyperpixel layer ids, e.g. 2,4,5,6,7 [default: the backbone's for the matching step]" };
    public Option<int> MaxSide { get; } = new("--max-side") { Description = "working side: images whose longer side exceeds this are reduced to it (0 = never), smaller ones enlarged with --upscale (on in the default); DINOv2 backbones run at 448 by default", DefaultValueFactory = _ => Defaults.Image.MaxSide };
    public Option<string> Precision { get; } = new("--precision") { Description = "backbone arithmetic: fp32 (the paper) or bf16 (CPUs with AVX512-BF16 or AMX, GPUs; faster, changes results slightly)", DefaultValueFactory = _ => Defaults.Hyperpixels.Precision };
    public Option<string?> Calibration { get; } = new("--calibration") { Description = "confidence calibration file from hpf calibrate --out, for settings without a shipped one (weights from a file); refused if fitted for other settings" };
    public Option<string> Device { get; } = new("--device") { Description = "cpu or cuda[:n]", DefaultValueFactory = _ => "cpu" };
    public Option<int> Threads { get; } = new("--threads") { Description = "tensor-engine threads (0 = default)", DefaultValueFactory = _ => 0 };
    public Option<int> BlockMegabytes { get; } = new("--similarity-block-mb") { Description = "largest block of the similarity matrix held at once (MB); larger matrices are tiled", DefaultValueFactory = _ => 256 };
    public Option<int> HyperpixelStride { get; } = new("--hyperpixel-stride")
    {
        Description = "fastest path: place both images' hyperpixel grids at the finest selected layer of at least this stride, e.g. 8 " +
            "(0 = the finest selected layer, as in the paper; costs ~0.6-0.8 PCK@0.1 on PF-WILLOW)",
        DefaultValueFactory = _ => 0,
    };
    public Option<int> TargetHyperpixelStride { get; } = new("--target-stride")
    {
        Description = "place only the target image's hyperpixel grid at the finest selected layer of at least this stride " +
            "(source hyperpixels stay on the finest grid; 0 = the same grid as the source, as in the paper and the accurate preset)",
        DefaultValueFactory = _ => Defaults.Hyperpixels.TargetStride,
    };
    public Option<string> Matching { get; } = new("--matching") { Description = "matching step: rhm (the paper's regularized Hough matching) or ot (SCOT's optimal-transport vote weights)", DefaultValueFactory = _ => Defaults.Matching.Name };
    public Option<double> OtEpsilon { get; } = new("--ot-epsilon") { Description = "ot: entropic regularisation", DefaultValueFactory = _ => Defaults.Matching.OptimalTransport.Epsilon };
    public Option<int> OtIterations { get; } = new("--ot-iterations") { Description = "ot: Sinkhorn iterations", DefaultValueFactory = _ => Defaults.Matching.OptimalTransport.Iterations };
    public Option<double> OtPlanExponent { get; } = new("--ot-plan-exponent") { Description = "ot: vote weight = (N x plan)^this", DefaultValueFactory = _ => Defaults.Matching.OptimalTransport.PlanExponent };
    public Option<int> OtCostExponent { get; } = new("--ot-cost-exponent") { Description = "ot: cost = 1 - max(cos, 0)^this", DefaultValueFactory = _ => Defaults.Matching.OptimalTransport.CostExponent };
    public Option<bool> Upscale { get; } = new("--upscale") { Description = "also enlarge images smaller than --max-side to it: on in the default and accurate presets, off in the paper's (--upscale false)" };
    public Option<string> Scales { get; } = new("--scales") { Description = "test-time scales of --max-side, e.g. 1,0.75: each point keeps the most confident (not the paper)", DefaultValueFactory = _ => "1" };
    public Option<bool> Flip { get; } = new("--flip") { Description = "also match the target mirrored left-right; each point keeps the more confident (not the paper)" };
    public Option<int> SoftArgmax { get; } = new("--soft-argmax") { Description = "sub-hyperpixel transfer: confidence-weighted position within this many target cells of the best (0 = the paper)", DefaultValueFactory = _ => 0 };
    public Option<double> ConsistencyFilter { get; } = new("--consistency-filter") { Description = "dense flow: mark pixels whose forward-backward round trip misses by more than this many pixels as invalid (0 = keep all)", DefaultValueFactory = _ => 0 };
    public Option<bool?> MarginPruning { get; } = new("--margin-pruning") { Description = "drop hyperpixels whose box leaves the image by more than a jump [default: on; off for Caltech, as in the paper's code]" };
    public Option<bool> NoMarginPruning { get; } = new("--no-margin-pruning") { Description = "keep every hyperpixel (same as --margin-pruning false)" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Preset, Backbone, Weights, Layers, MaxSide, HyperpixelStride, TargetHyperpixelStride, Matching, OtEpsilon, OtIterations, OtPlanExponent, OtCostExponent, Upscale, Scales, Flip, SoftArgmax, ConsistencyFilter, Precision, Calibration, Device, Threads, MarginPruning, NoMarginPruning, BlockMegabytes }) command.Options.Add(option);
    }

    /// <summary>
    /// The matcher's options: the preset's method settings (<c>--preset</c>, the library's defaults when absent), each
    /// replaced by the option the user gave explicitly.
    /// </summary>
    /// <param name="defaultPruning">margin pruning when --margin-pruning is not given</param>
    public HyperpixelFlowOptions Parse(ParseResult result, bool defaultPruning = true)
    {
        var preset = Presets.Get(result.GetValue(Preset)!).Options;
        T Given<T>(Option<T> option, T fallback) => result.GetResult(option) is { Implicit: false } ? result.GetValue(option)! : fallback;
        // A backbone made for another working side (DINOv2: 448, a multiple of its patch) runs at it unless told otherwise.
        int? workingSide = BackboneRegistry.Get(result.GetValue(Backbone)!).WorkingSide;
        return preset with
        {
            Image = preset.Image with
            {
                MaxSide = Given(MaxSide, workingSide ?? preset.Image.MaxSide),
                Upscale = Given(Upscale, workingSide is not null || preset.Image.Upscale),
                Scales = result.GetResult(Scales) is { Implicit: false } ? ParseScales(result.GetValue(Scales)!) : preset.Image.Scales,
                FlipTarget = Given(Flip, preset.Image.FlipTarget),
            },
            Hyperpixels = preset.Hyperpixels with
            {
                Backbone = result.GetValue(Backbone)!,
                WeightsPath = result.GetValue(Weights),
                Layers = ParseLayers(result.GetValue(Layers)),
                MarginPruning = result.GetValue(NoMarginPruning)
                    ? (result.GetValue(MarginPruning) == true ? throw new HyperpixelFlowException("--margin-pruning true and --no-margin-pruning contradict each other") : false)
                    : result.GetValue(MarginPruning) ?? defaultPruning,
                Stride = Given(HyperpixelStride, preset.Hyperpixels.Stride),
                TargetStride = Given(TargetHyperpixelStride, preset.Hyperpixels.TargetStride),
                Precision = Given(Precision, preset.Hyperpixels.Precision),
            },
            Matching = preset.Matching with
            {
                Name = Given(Matching, preset.Matching.Name),
                OptimalTransport = new()
                {
                    Epsilon = Given(OtEpsilon, preset.Matching.OptimalTransport.Epsilon),
                    Iterations = Given(OtIterations, preset.Matching.OptimalTransport.Iterations),
                    PlanExponent = Given(OtPlanExponent, preset.Matching.OptimalTransport.PlanExponent),
                    CostExponent = Given(OtCostExponent, preset.Matching.OptimalTransport.CostExponent),
                },
                SubHyperpixelRadius = Given(SoftArgmax, preset.Matching.SubHyperpixelRadius),
            },
            Flow = preset.Flow with { ConsistencyFilter = Given(ConsistencyFilter, preset.Flow.ConsistencyFilter) },
            Runtime = preset.Runtime with
            {
                Device = result.GetValue(Device)!,
                CalibrationPath = result.GetValue(Calibration),
                Threads = result.GetValue(Threads),
                MaxSimilarityBlockBytes = Math.Max(1L, result.GetValue(BlockMegabytes)) << 20,
            },
        };
    }

    /// <summary>--shard K/N: this process takes every N-th item of the work list, starting with the K-th.</summary>
    public static Option<string> ShardOption() => new("--shard")
    {
        Description = "take shard K of N of the work list (items i with i mod N = K-1), e.g. 2/8; 'hpf merge' joins the shards' results",
        DefaultValueFactory = _ => "1/1",
    };

    /// <summary>What a default results file name gets for a shard ("" for the whole list).</summary>
    public static string ShardSuffix(Evaluation.Shard shard) => shard.Count > 1 ? $"-shard{shard.Index}of{shard.Count}" : "";

    public static IReadOnlyList<int>? ParseLayers(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var ids = new List<int>();
        foreach (var part in text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int id))
                throw new HyperpixelFlowException($"--layers: '{part}' is not a layer id (expected integers like 2,4,5,6,7)");
            ids.Add(id);
        }
        return ids;
    }

    public static IReadOnlyList<double> ParseScales(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        return parts.Select(part => double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0
            ? v : throw new HyperpixelFlowException($"--scales: '{part}' is not a positive number (expected e.g. 1,0.75)")).ToList();
    }

    /// <summary>Parses "x,y;x,y;..." into points.</summary>
    public static IReadOnlyList<Point2>? ParsePoints(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var points = new List<Point2>();
        foreach (var pair in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var xy = pair.Split(',', StringSplitOptions.TrimEntries);
            if (xy.Length != 2
                || !double.TryParse(xy[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double x)
                || !double.TryParse(xy[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double y))
                throw new HyperpixelFlowException($"--points: '{pair}' is not a point; expected \"x,y;x,y;...\"");
            points.Add(new Point2(x, y));
        }
        return points;
    }
}
