namespace HyperpixelFlow;

/// <summary>
/// Every setting of the method, grouped by pipeline stage (image -> hyperpixels -> matching -> flow, plus runtime),
/// with the library's defaults (<see cref="Presets"/> "paper" gives the published method). Immutable records: derive
/// variants with <c>with</c>, e.g. <c>options with { Image = options.Image with { MaxSide = 400 } }</c> (layers, the
/// commonest change, also by <see cref="WithLayers"/>). Every group but <see cref="Runtime"/> can change a result
/// (<see cref="ResultSettings"/>).
/// </summary>
public sealed record HyperpixelFlowOptions
{
    /// <summary>How images are brought to the working resolution, and the test-time views of them.</summary>
    public ImageOptions Image { get; init; } = new();

    /// <summary>Which network and layers give the hyperpixels, and on which grid.</summary>
    public HyperpixelOptions Hyperpixels { get; init; } = new();

    /// <summary>The matching step and its settings.</summary>
    public MatchingOptions Matching { get; init; } = new();

    /// <summary>How the dense flow is formed from the matches.</summary>
    public FlowOptions Flow { get; init; } = new();

    /// <summary>Where and with how much memory the work runs: never changes a result.</summary>
    public RuntimeOptions Runtime { get; init; } = new();

    /// <summary>These options with other hyperpixel layers (null = the backbone's default for the matching step).</summary>
    public HyperpixelFlowOptions WithLayers(IReadOnlyList<int>? layers) => this with { Hyperpixels = Hyperpixels with { Layers = layers } };

    /// <summary>The matching step with the settings that change its results, e.g. "rhm(similarity exponent 3)" or "ot(eps 0.05, 1 iteration, cost exponent 1, plan exponent 0.5)".</summary>
    public string DescribeMatching() => HyperpixelFlow.Matching.MatchingRegistry.Get(Matching.Name).DescribeSettings(this);

    /// <summary>
    /// The matching step and every lever beyond the paper that changes keypoint predictions, for logs and settings,
    /// e.g. "rhm(similarity exponent 3)" or "ot(...), upscale, scales 1,0.75, target flip, soft-argmax radius 1".
    /// </summary>
    public string DescribeMethod() => DescribeMatching()
        + (Image.Upscale ? ", upscale" : "")
        + (Image.Scales.Count != 1 || Image.Scales[0] != 1 ? ", scales " + string.Join(",", Image.Scales.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture))) : "")
        + (Image.FlipTarget ? ", target flip" : "")
        + (Matching.SubHyperpixelRadius > 0 ? $", soft-argmax radius {Matching.SubHyperpixelRadius}" : "");

    /// <summary>
    /// Every setting that can change a prediction, by path ("Image.MaxSide", "Matching.OptimalTransport.Epsilon"), as
    /// invariant text: read from the non-runtime groups themselves, so a setting added later is recorded without anyone
    /// remembering to. Leaves out <see cref="Runtime"/> and the backbone's identity (name, weights, layers), which
    /// evaluation records on its own.
    /// </summary>
    public SortedDictionary<string, string> ResultSettings()
    {
        var settings = new SortedDictionary<string, string>(StringComparer.Ordinal);
        void Add(object record, string prefix)
        {
            foreach (var property in record.GetType().GetProperties().Where(p => p.SetMethod is not null))
            {
                string name = prefix + property.Name;
                if (name is nameof(Runtime) or "Hyperpixels.Backbone" or "Hyperpixels.WeightsPath" or "Hyperpixels.Layers") continue;
                switch (property.GetValue(record))
                {
                    case { } nested when nested.GetType().IsClass && nested.GetType().Namespace?.StartsWith("HyperpixelFlow", StringComparison.Ordinal) == true:
                        Add(nested, name + "."); break;   // a group, or a group within one (Matching.OptimalTransport)
                    case System.Collections.IEnumerable list and not string:
                        settings[name] = string.Join(",", list.Cast<object>().Select(Invariant)); break;
                    case var value: settings[name] = Invariant(value); break;
                }
            }
        }
        Add(this, "");
        return settings;
    }

    private static string Invariant(object? value) => value switch
    {
        null => "",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Checks every group; throws <see cref="HyperpixelFlowException"/> naming the bad value.</summary>
    public void Validate()
    {
        Image.Validate();
        Hyperpixels.Validate();
        Matching.Validate();
        Flow.Validate();
        Runtime.Validate();
    }
}

/// <summary>Image stage: the working resolution and the test-time views.</summary>
public sealed record ImageOptions
{
    /// <summary>
    /// Images whose longer side exceeds this are resized to it (bilinear, align_corners=false); 0 = never. The paper
    /// works at 300; the default, 336 with <see cref="Upscale"/> and a coarser target grid
    /// (<see cref="HyperpixelOptions.TargetStride"/>), was chosen on PF-WILLOW val among working sides that cost no
    /// more per pair than 300 on the finest grids (docs/results.md, "The default since issue 24").
    /// </summary>
    public int MaxSide { get; init; } = 336;

    /// <summary>
    /// Also enlarge images whose longer side is below <see cref="MaxSide"/> to it (the working resolution is then
    /// exactly MaxSide). Off in the paper; on by default: a strong accuracy lever on small benchmark images.
    /// </summary>
    public bool Upscale { get; init; } = true;

    /// <summary>
    /// Test-time scales: every image is also described at MaxSide x each scale (the first entry is the primary
    /// resolution, whose frame the results are expressed in) and every point keeps the prediction of the most
    /// confident scale. [1] = the paper.
    /// </summary>
    public IReadOnlyList<double> Scales { get; init; } = [1.0];

    /// <summary>
    /// Test-time flip: also match against the target mirrored left-right and keep, per point (and per pixel of the
    /// flow), the more confident of the two predictions. Off in the paper.
    /// </summary>
    public bool FlipTarget { get; init; }

    /// <summary>Checks the values; throws <see cref="HyperpixelFlowException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (MaxSide < 0) throw new HyperpixelFlowException($"MaxSide must be >= 0, got {MaxSide}");
        if (MaxSide is > 0 and < ImageLimits.MinSide)
            throw new HyperpixelFlowException($"MaxSide must be 0 or at least {ImageLimits.MinSide}, got {MaxSide}");
        if (Scales.Count == 0 || Scales.Any(v => !(v > 0) || !double.IsFinite(v) || (MaxSide > 0 && (int)(MaxSide * v) < ImageLimits.MinSide)))
            throw new HyperpixelFlowException($"Scales must be positive numbers that keep MaxSide x scale at least {ImageLimits.MinSide}, got [{string.Join(", ", Scales)}]");
        if (Scales.Count > 1 && MaxSide == 0) throw new HyperpixelFlowException("several Scales need a MaxSide to scale");
    }
}

/// <summary>Hyperpixel stage: the network, its layers and the grid they are placed on.</summary>
public sealed record HyperpixelOptions
{
    /// <summary>Backbone name in <see cref="Backbones.BackboneRegistry"/>.</summary>
    public string Backbone { get; init; } = Backbones.BackboneRegistry.DefaultName;

    /// <summary>Weights file for backbones that do not bundle their own (.pth or .safetensors); null = bundled.</summary>
    public string? WeightsPath { get; init; }

    /// <summary>Hyperpixel layer ids (see the backbone's id table); null = the backbone's default layers for the matching step.</summary>
    public IReadOnlyList<int>? Layers { get; init; }

    /// <summary>
    /// Number format of the backbone's arithmetic: <c>fp32</c> (the default, the paper's) or <c>bf16</c> (bfloat16
    /// weights and activations, for CPUs with AVX512-BF16 or AMX and for GPUs; features return as fp32). bf16 changes
    /// results (docs/results.md, "bf16 backbone").
    /// </summary>
    public string Precision { get; init; } = Backbones.BackbonePrecision.Fp32;

    /// <summary>Drop hyperpixels whose receptive box leaves the image by more than one jump.</summary>
    public bool MarginPruning { get; init; } = true;

    /// <summary>
    /// Stride (pixels) of the hyperpixel grid of both images: the finest selected layer of at least this stride; 0 = the
    /// finest selected layer's, as in the paper. The fastest path sets it to a coarser selected layer's stride (e.g. 8): finer layers are resampled bilinearly onto
    /// that grid, and similarity and voting shrink by the ratio to the fourth. Changes results (see docs/performance-log.md, "Fast paths").
    /// </summary>
    public int Stride { get; init; }

    /// <summary>
    /// Stride (pixels) of the target image's hyperpixel grid: the finest selected layer of at least this stride; 0 = the
    /// same grid as the source (<see cref="Stride"/>, the paper). 8 by default: source hyperpixels stay on the finest
    /// grid and only the candidate targets are thinned, so similarity and voting shrink by the ratio squared, and flow
    /// formation and keypoint transfer keep the fine source boxes. Backbones whose layers share one stride (DINOv2)
    /// keep their one grid. See docs/performance-log.md, "Fast paths".
    /// </summary>
    public int TargetStride { get; init; } = 8;

    /// <summary>The least grid stride of the target image's hyperpixels as asked for (0 = the first selected layer's).</summary>
    public int EffectiveTargetStride => TargetStride > 0 ? TargetStride : Stride;

    /// <summary>How the grids differ from the paper's, for logs and settings ("" on the paper's grid).</summary>
    public string DescribeGrids() =>
        (Stride > 0 ? $", hyperpixel stride {Stride}" : "") +
        (TargetStride > 0 ? $", target hyperpixel stride {TargetStride}" : "");

    /// <summary>Checks the values; throws <see cref="HyperpixelFlowException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (Stride < 0) throw new HyperpixelFlowException($"the hyperpixel stride must be >= 0, got {Stride}");
        if (TargetStride < 0) throw new HyperpixelFlowException($"the target hyperpixel stride must be >= 0, got {TargetStride}");
        Backbones.BackbonePrecision.Validate(Precision);
    }
}

/// <summary>Matching stage: the step by name and the settings of the Hough voting it runs.</summary>
public sealed record MatchingOptions
{
    /// <summary>
    /// The matching step by name in <see cref="HyperpixelFlow.Matching.MatchingRegistry"/>: <c>ot</c> (the default:
    /// SCOT's optimal-transport vote weights, <see cref="OptimalTransport"/>, chosen on PF-WILLOW val) or <c>rhm</c>
    /// (the paper's regularized Hough matching; <see cref="Presets"/> "paper" selects it).
    /// </summary>
    public string Name { get; init; } = "ot";

    /// <summary>Settings of the <c>ot</c> matching step.</summary>
    public HyperpixelFlow.Matching.OptimalTransportOptions OptimalTransport { get; init; } = new();

    /// <summary>Approximate number of cells of the Hough space of offsets.</summary>
    public int HoughCells { get; init; } = 8192;

    /// <summary>Exponent applied to the clamped cosine similarity (<c>rhm</c>).</summary>
    public int SimilarityExponent { get; init; } = 3;

    /// <summary>Side of the Gaussian that smooths the Hough space (odd).</summary>
    public int HoughKernelSize { get; init; } = 7;

    /// <summary>
    /// Sub-hyperpixel transfer: 0 = each source box moves to its best target box (the paper); r &gt; 0 = to the
    /// confidence-weighted mean position of the target cells within r cells of the best one (a soft-argmax).
    /// </summary>
    public int SubHyperpixelRadius { get; init; }

    /// <summary>Checks the values; throws <see cref="HyperpixelFlowException"/> naming the bad one.</summary>
    public void Validate()
    {
        HyperpixelFlow.Matching.MatchingRegistry.Get(Name);
        OptimalTransport.Validate();
        if (HoughCells < 1) throw new HyperpixelFlowException($"HoughCells must be positive, got {HoughCells}");
        if (SimilarityExponent < 1) throw new HyperpixelFlowException($"SimilarityExponent must be >= 1, got {SimilarityExponent}");
        if (HoughKernelSize < 1 || HoughKernelSize % 2 == 0)
            throw new HyperpixelFlowException($"HoughKernelSize must be a positive odd number, got {HoughKernelSize}");
        if (SubHyperpixelRadius < 0) throw new HyperpixelFlowException($"SubHyperpixelRadius must be >= 0, got {SubHyperpixelRadius}");
    }
}

/// <summary>Flow stage: how the dense flow is formed from the matches.</summary>
public sealed record FlowOptions
{
    /// <summary>
    /// Forward-backward filter of the dense flow: pixels whose round trip (source -> target -> source) misses by more
    /// than this many source pixels are marked invalid (NaN) in <see cref="MatchResult.Flow"/>; 0 = keep every pixel.
    /// </summary>
    public double ConsistencyFilter { get; init; }

    /// <summary>Checks the values; throws <see cref="HyperpixelFlowException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (!(ConsistencyFilter >= 0) || !double.IsFinite(ConsistencyFilter)) throw new HyperpixelFlowException($"ConsistencyFilter must be >= 0 pixels, got {ConsistencyFilter}");
    }
}

/// <summary>Runtime: where the work runs, with how many threads and how much memory. Never changes a result.</summary>
public sealed record RuntimeOptions
{
    /// <summary>Torch device: "cpu" or "cuda[:n]".</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Intra-op threads for the tensor engine; 0 = leave the engine's default.</summary>
    public int Threads { get; init; }

    /// <summary>
    /// Largest block of the N x M similarity matrix held at once (bytes). Larger matrices are processed in row blocks
    /// that are recomputed for the second pass, so memory stays bounded; results are identical.
    /// </summary>
    public long MaxSimilarityBlockBytes { get; init; } = 256L << 20;

    /// <summary>Images larger than this many pixels are refused (decoding them would exhaust memory).</summary>
    public long MaxImagePixels { get; init; } = 100_000_000;

    /// <summary>
    /// A confidence calibration file (<c>hpf calibrate --out</c>) for settings no shipped calibration covers, such as
    /// weights from a file; it must have been fitted for exactly these settings and weights. Null: the shipped ones.
    /// </summary>
    public string? CalibrationPath { get; init; }

    /// <summary>Checks the values; throws <see cref="HyperpixelFlowException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (Threads < 0) throw new HyperpixelFlowException($"Threads must be >= 0, got {Threads}");
        if (MaxSimilarityBlockBytes < 1) throw new HyperpixelFlowException($"MaxSimilarityBlockBytes must be positive, got {MaxSimilarityBlockBytes}");
        if (MaxImagePixels < 1) throw new HyperpixelFlowException($"MaxImagePixels must be positive, got {MaxImagePixels}");
    }
}

/// <summary>Image size limits shared by the loader and the options.</summary>
internal static class ImageLimits
{
    /// <summary>Smallest accepted side: below it the deepest layers have no spatial extent left.</summary>
    public const int MinSide = 32;
}
