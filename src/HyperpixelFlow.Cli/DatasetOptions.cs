using System.CommandLine;

namespace HyperpixelFlow.Cli;

/// <summary>Options that pick a benchmark split and its PCK threshold, shared by evaluate and beamsearch.</summary>
internal sealed class DatasetOptions(string defaultSplit)
{
    public Option<string> Dataset { get; } = new("--dataset") { Description = string.Join(", ", DatasetRegistry.Names), Required = true };
    public Option<string> Datapath { get; } = new("--datapath") { Description = "dataset root folder", Required = true };
    public Option<string> Split { get; } = new("--split") { Description = "split name", DefaultValueFactory = _ => defaultSplit };
    public Option<string?> ExcludeImagesOf { get; } = new("--exclude-images-of")
    {
        Description = "leave out the pairs that share an image with this split's pairs (e.g. val: the pairs a calibration or setting chosen on val never saw)",
    };
    public Option<string> Threshold { get; } = new("--thres") { Description = "auto, img, bbox or kps (auto = the benchmark's convention)", DefaultValueFactory = _ => "auto" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Dataset, Datapath, Split, ExcludeImagesOf, Threshold }) command.Options.Add(option);
    }

    public BenchmarkDataset Load(ParseResult result)
    {
        string name = result.GetValue(Dataset)!, root = result.GetValue(Datapath)!;
        var data = DatasetRegistry.Load(name, root, result.GetValue(Split)!);
        return result.GetValue(ExcludeImagesOf) is { } other ? data.WithoutImagesOf(DatasetRegistry.Load(name, root, other)) : data;
    }

    public PckThreshold ParseThreshold(ParseResult result) => result.GetValue(Threshold)!.ToLowerInvariant() switch
    {
        "auto" => PckThreshold.Auto,
        "img" or "image" => PckThreshold.Image,
        "bbox" => PckThreshold.BoundingBox,
        "kps" or "keypoints" => PckThreshold.KeypointExtent,
        var text => throw new HyperpixelFlowException($"--thres: '{text}' is not one of auto, img, bbox, kps"),
    };

    /// <summary>Matcher options; margin pruning follows the benchmark's record unless given (off on Caltech-101, as in the paper's code).</summary>
    public static HyperpixelFlowOptions MatcherOptions(CommonOptions common, ParseResult result, BenchmarkDataset data) =>
        common.Parse(result, defaultPruning: DatasetRegistry.Get(data.Name).DefaultMarginPruning);
}
