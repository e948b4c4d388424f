namespace HyperpixelFlow;

/// <summary>A named bundle of method settings: <c>--preset NAME</c>, or <c>Presets.Get(NAME).Options</c> in C#.</summary>
public sealed record Preset(string Name, string Description, HyperpixelFlowOptions Options);

/// <summary>
/// The method's presets. Each leaves the layers to the backbone (its default for the preset's matching step) and the
/// runtime settings (device, threads, block size) at their defaults. Figures for each: README, "Presets".
/// </summary>
public static class Presets
{
    /// <summary>The preset that equals the library's defaults.</summary>
    public const string DefaultName = "default";

    /// <summary>Every preset.</summary>
    public static IReadOnlyList<Preset> All { get; } =
    [
        new("paper", "the published method, bit for bit: regularized Hough matching at a 300 px working side",
            new HyperpixelFlowOptions { Image = PaperImage, Hyperpixels = new() { TargetStride = 0 }, Matching = new() { Name = "rhm" } }),
        new("fast", "the paper's matching with the target's hyperpixels at stride 8: faster, PCK within half a point",
            new HyperpixelFlowOptions { Image = PaperImage, Hyperpixels = new() { TargetStride = 8 }, Matching = new() { Name = "rhm" } }),
        new(DefaultName, "the library's defaults (chosen on PF-WILLOW val): optimal-transport matching at a 336 px working side (smaller images are enlarged), the target's hyperpixels at stride 8",
            new HyperpixelFlowOptions()),
        new("accurate", "optimal-transport matching at a 400 px working side (images are enlarged when smaller) on the finest grid of both images, for the best PCK at about twice the time per pair (figures: README, Presets)",
            new HyperpixelFlowOptions { Image = new() { MaxSide = 400, Upscale = true }, Hyperpixels = new() { TargetStride = 0 } }),
        new("accurate-fast", "accurate with the target's hyperpixels at stride 8: accurate's PCK on PF-WILLOW val at about half its time per pair",
            new HyperpixelFlowOptions { Image = new() { MaxSide = 400, Upscale = true }, Hyperpixels = new() { TargetStride = 8 } }),
    ];

    /// <summary>The paper's working resolution: images larger than 300 px are reduced, smaller ones kept.</summary>
    private static ImageOptions PaperImage => new() { MaxSide = 300, Upscale = false };

    /// <summary>The preset of a name (case-insensitive); a clear error listing the known names otherwise.</summary>
    public static Preset Get(string name) =>
        All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new HyperpixelFlowException($"unknown preset '{name}'; known: {string.Join(", ", All.Select(p => p.Name))}");
}
