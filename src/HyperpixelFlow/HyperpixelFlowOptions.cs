namespace HyperpixelFlow;

/// <summary>
/// Every hyperparameter of the method in one place, with the paper's defaults. Immutable: derive variants with
/// <c>with</c> expressions. A null <see cref="Layers"/> means "the default layers of the chosen backbone".
/// </summary>
public sealed record HyperpixelFlowOptions
{
    /// <summary>Backbone name in <see cref="Backbones.BackboneRegistry"/>.</summary>
    public string Backbone { get; init; } = Backbones.BackboneRegistry.DefaultName;

    /// <summary>Weights file for backbones that do not bundle their own (.pth or .safetensors); null = bundled.</summary>
    public string? WeightsPath { get; init; }

    /// <summary>Hyperpixel layer ids (see the backbone's id table); null = the backbone's default layers.</summary>
    public IReadOnlyList<int>? Layers { get; init; }

    /// <summary>Images whose longer side exceeds this are resized to it (bilinear, align_corners=false); 0 = never.</summary>
    public int MaxSide { get; init; } = 300;

    /// <summary>
    /// Also enlarge images whose longer side is below <see cref="MaxSide"/> to it (the working resolution is then
    /// exactly MaxSide). Off in the paper; a strong accuracy lever on small benchmark images, at the cost of time.
    /// </summary>
    public bool Upscale { get; init; }

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

    /// <summary>
    /// Sub-hyperpixel transfer: 0 = each source box moves to its best target box (the paper); r &gt; 0 = to the
    /// confidence-weighted mean position of the target cells within r cells of the best one (a soft-argmax).
    /// </summary>
    public int SubHyperpixelRadius { get; init; }

    /// <summary>
    /// Forward-backward filter of the dense flow: pixels whose round trip (source -> target -> source) misses by more
    /// than this many source pixels are marked invalid (NaN) in <see cref="MatchResult.Flow"/>; 0 = keep every pixel.
    /// </summary>
    public double ConsistencyFilter { get; init; }

    /// <summary>Drop hyperpixels whose receptive box leaves the image by more than one jump.</summary>
    public bool MarginPruning { get; init; } = true;

    /// <summary>
    /// Stride (pixels) of the hyperpixel grid of both images: 0 = the finest selected layer's, as in the paper. The
    /// fastest path sets it to a coarser selected layer's stride (e.g. 8): finer layers are resampled bilinearly onto
    /// that grid, and similarity and voting shrink by the ratio to the fourth. Changes results (see docs/performance-log.md, "Fast paths").
    /// </summary>
    public int HyperpixelStride { get; init; }

    /// <summary>
    /// Stride (pixels) of the target image's hyperpixel grid; 0 = the same grid as the source (<see cref="HyperpixelStride"/>).
    /// The fast path sets it alone (e.g. 8): source hyperpixels stay on the paper's grid and only the candidate targets
    /// are thinned, so similarity and voting shrink by the ratio squared, and flow formation and keypoint transfer keep
    /// the paper's source boxes (PCK@0.1 on PF-WILLOW within 0.31 of the exact path). Changes results (see docs/performance-log.md, "Fast paths").
    /// </summary>
    public int TargetHyperpixelStride { get; init; }

    /// <summary>The grid stride of the target image's hyperpixels as asked for (0 = the first selected layer's).</summary>
    public int EffectiveTargetStride => TargetHyperpixelStride > 0 ? TargetHyperpixelStride : HyperpixelStride;

    /// <summary>How the grids differ from the paper's, for logs and settings ("" on the paper's grid).</summary>
    public static string DescribeGrids(int hyperpixelStride, int targetHyperpixelStride) =>
        (hyperpixelStride > 0 ? $", hyperpixel stride {hyperpixelStride}" : "") +
        (targetHyperpixelStride > 0 ? $", target hyperpixel stride {targetHyperpixelStride}" : "") +
        (hyperpixelStride > 0 || targetHyperpixelStride > 0 ? " (fast path)" : "");

    /// <summary>
    /// The matching step by name in <see cref="Matching.MatchingRegistry"/>: <c>ot</c> (the default: SCOT's
    /// optimal-transport vote weights, <see cref="OptimalTransport"/>, chosen on PF-WILLOW val) or <c>rhm</c> (the
    /// paper's regularized Hough matching; <see cref="Presets"/> "paper" selects it).
    /// </summary>
    public string Matching { get; init; } = "ot";

    /// <summary>The matching step with the settings that change its results, e.g. "rhm" or "ot(eps 0.05, 1 iteration, cost exponent 1, plan exponent 0.5)".</summary>
    public string DescribeMatching() => HyperpixelFlow.Matching.MatchingRegistry.Get(Matching).DescribeSettings(this);

    /// <summary>
    /// The matching step and every lever beyond the paper that changes keypoint predictions, for logs and settings,
    /// e.g. "rhm(similarity exponent 3)" or "ot(...), upscale, scales 1,0.75, target flip, soft-argmax radius 1".
    /// </summary>
    public string DescribeMethod() => DescribeMatching()
        + (Upscale ? ", upscale" : "")
        + (Scales.Count != 1 || Scales[0] != 1 ? ", scales " + string.Join(",", Scales.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture))) : "")
        + (FlipTarget ? ", target flip" : "")
        + (SubHyperpixelRadius > 0 ? $", soft-argmax radius {SubHyperpixelRadius}" : "");

    /// <summary>Settings of the <c>ot</c> matching step.</summary>
    public Matching.OptimalTransportOptions OptimalTransport { get; init; } = new();

    /// <summary>Approximate number of cells of the Hough space of offsets.</summary>
    public int HoughCells { get; init; } = 8192;

    /// <summary>Exponent applied to the clamped cosine similarity.</summary>
    public int SimilarityExponent { get; init; } = 3;

    /// <summary>Side of the Gaussian that smooths the Hough space (odd).</summary>
    public int HoughKernelSize { get; init; } = 7;

    /// <summary>
    /// Largest block of the N x M similarity matrix held at once (bytes). Larger matrices are processed in row blocks
    /// that are recomputed for the second pass, so memory stays bounded; results are identical.
    /// </summary>
    [RuntimeSetting]
    public long MaxSimilarityBlockBytes { get; init; } = 256L << 20;

    /// <summary>Torch device: "cpu" or "cuda[:n]".</summary>
    [RuntimeSetting]
    public string Device { get; init; } = "cpu";

    /// <summary>Intra-op threads for the tensor engine; 0 = leave the engine's default.</summary>
    [RuntimeSetting]
    public int Threads { get; init; }

    /// <summary>Images larger than this many pixels are refused (decoding them would exhaust memory).</summary>
    [RuntimeSetting]
    public long MaxImagePixels { get; init; } = 100_000_000;

    /// <summary>
    /// Every setting that can change a prediction, by name (nested settings as "OptimalTransport.Epsilon"), as
    /// invariant text: derived from the properties themselves, so an option added later is recorded without anyone
    /// remembering to. Leaves out <see cref="RuntimeSettingAttribute"/> options and the backbone's identity (name,
    /// weights, layers), which evaluation records on their own.
    /// </summary>
    public SortedDictionary<string, string> ResultSettings()
    {
        var settings = new SortedDictionary<string, string>(StringComparer.Ordinal);
        void Add(object record, string prefix)
        {
            foreach (var property in record.GetType().GetProperties().Where(p => p.SetMethod is not null))
            {
                if (Attribute.IsDefined(property, typeof(RuntimeSettingAttribute))
                    || property.Name is nameof(Backbone) or nameof(WeightsPath) or nameof(Layers)) continue;
                var value = property.GetValue(record);
                string name = prefix + property.Name;
                switch (value)
                {
                    case { } nested when nested.GetType().IsClass && nested.GetType().Namespace?.StartsWith("HyperpixelFlow", StringComparison.Ordinal) == true:
                        Add(nested, name + "."); break;   // a settings group such as OptimalTransport
                    case System.Collections.IEnumerable list and not string:
                        settings[name] = string.Join(",", list.Cast<object>().Select(Invariant)); break;
                    default: settings[name] = Invariant(value); break;
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

    /// <summary>Checks the values; throws <see cref="HyperpixelFlowException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (MaxSide < 0) throw new HyperpixelFlowException($"MaxSide must be >= 0, got {MaxSide}");
        if (MaxSide is > 0 and < ImageLimits.MinSide)
            throw new HyperpixelFlowException($"MaxSide must be 0 or at least {ImageLimits.MinSide}, got {MaxSide}");
        if (HyperpixelStride < 0) throw new HyperpixelFlowException($"HyperpixelStride must be >= 0, got {HyperpixelStride}");
        if (TargetHyperpixelStride < 0) throw new HyperpixelFlowException($"TargetHyperpixelStride must be >= 0, got {TargetHyperpixelStride}");
        HyperpixelFlow.Matching.MatchingRegistry.Get(Matching);
        if (Scales.Count == 0 || Scales.Any(v => !(v > 0) || !double.IsFinite(v) || (MaxSide > 0 && (int)(MaxSide * v) < ImageLimits.MinSide)))
            throw new HyperpixelFlowException($"Scales must be positive numbers that keep MaxSide x scale at least {ImageLimits.MinSide}, got [{string.Join(", ", Scales)}]");
        if (Scales.Count > 1 && MaxSide == 0) throw new HyperpixelFlowException("several Scales need a MaxSide to scale");
        if (SubHyperpixelRadius < 0) throw new HyperpixelFlowException($"SubHyperpixelRadius must be >= 0, got {SubHyperpixelRadius}");
        if (!(ConsistencyFilter >= 0) || !double.IsFinite(ConsistencyFilter)) throw new HyperpixelFlowException($"ConsistencyFilter must be >= 0 pixels, got {ConsistencyFilter}");
        OptimalTransport.Validate();
        if (HoughCells < 1) throw new HyperpixelFlowException($"HoughCells must be positive, got {HoughCells}");
        if (SimilarityExponent < 1) throw new HyperpixelFlowException($"SimilarityExponent must be >= 1, got {SimilarityExponent}");
        if (HoughKernelSize < 1 || HoughKernelSize % 2 == 0)
            throw new HyperpixelFlowException($"HoughKernelSize must be a positive odd number, got {HoughKernelSize}");
        if (Threads < 0) throw new HyperpixelFlowException($"Threads must be >= 0, got {Threads}");
        if (MaxSimilarityBlockBytes < 1) throw new HyperpixelFlowException($"MaxSimilarityBlockBytes must be positive, got {MaxSimilarityBlockBytes}");
        if (MaxImagePixels < 1) throw new HyperpixelFlowException($"MaxImagePixels must be positive, got {MaxImagePixels}");
    }
}

/// <summary>
/// Marks an option that changes how a result is computed (where, how fast, how much memory) but never the result
/// itself: it is left out of <see cref="HyperpixelFlowOptions.ResultSettings"/>, so results of runs that differ only
/// in it may be mixed. Every other option counts.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RuntimeSettingAttribute : Attribute;

/// <summary>Image size limits shared by the loader and the options.</summary>
public static class ImageLimits
{
    /// <summary>Smallest accepted side: below it the deepest layers have no spatial extent left.</summary>
    public const int MinSide = 32;
}
