using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>Where one hyperpixel candidate's cells lie and what box each owns, in input pixels.</summary>
/// <param name="Jump">pixels between neighbouring cells (the layer's stride)</param>
/// <param name="ReceptiveField">side of the box a cell owns: a CNN layer's receptive field; for a layer that sees the
/// whole image (a transformer's tokens), the neighbourhood its boxes are given instead</param>
/// <param name="Origin">input pixel of cell 0's centre: 0 in the paper's convention for CNNs, half a patch for a ViT</param>
/// <param name="SeesWholeImage">whether each cell's features depend on the whole image (self-attention)</param>
public readonly record struct CandidateGeometry(int Jump, int ReceptiveField, int Origin = 0, bool SeesWholeImage = false);

/// <summary>
/// What the matcher needs of a network: a table of hyperpixel candidates (each with the jump and receptive field that
/// place its boxes), their features for an image, and default layers. the ResNets are one (<c>ResNetBackbone</c>); another
/// network (a ViT, say) is a subclass with its own candidate table and <see cref="Extract"/>, and the matcher, the
/// hyperpixel builder and the evaluation code take it unchanged.
/// </summary>
public abstract class Backbone : IDisposable
{
    private readonly IReadOnlyDictionary<string, IReadOnlyList<int>> _layersByMatching;

    /// <param name="name">the name results record</param>
    /// <param name="candidates">jump and receptive field of every candidate id</param>
    /// <param name="defaultLayers">candidate ids used when none are given</param>
    /// <param name="device">where features are computed</param>
    /// <param name="layersByMatching">default layers searched for particular matching steps (e.g. "ot")</param>
    protected Backbone(string name, IReadOnlyList<CandidateGeometry> candidates, IReadOnlyList<int> defaultLayers, Device device,
        IReadOnlyDictionary<string, IReadOnlyList<int>>? layersByMatching)
    {
        Name = name;
        Candidates = candidates;
        Device = device;
        DefaultLayers = ValidateLayers(defaultLayers);
        _layersByMatching = (layersByMatching ?? new Dictionary<string, IReadOnlyList<int>>())
            .ToDictionary(kv => kv.Key, kv => ValidateLayers(kv.Value), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The name results and logs record.</summary>
    public string Name { get; }

    /// <summary>Jump and receptive field of every candidate id, 0 .. <see cref="CandidateCount"/> - 1.</summary>
    public IReadOnlyList<CandidateGeometry> Candidates { get; }

    /// <summary>Number of candidate ids.</summary>
    public int CandidateCount => Candidates.Count;

    /// <summary>The device features are computed on.</summary>
    public Device Device { get; }

    /// <summary>The number format of its arithmetic: "fp32" unless the registry made it otherwise ("bf16").</summary>
    public string Precision { get; private set; } = BackbonePrecision.Fp32;

    /// <summary>The tensor type its arithmetic runs in.</summary>
    protected ScalarType ComputeType => BackbonePrecision.TypeOf(Precision);

    /// <summary>Switches the arithmetic to <paramref name="precision"/> (the registry does, before handing the backbone out).</summary>
    internal void SwitchPrecision(string precision)
    {
        BackbonePrecision.Require(precision, Device);
        if (precision == Precision) return;
        ConvertTo(BackbonePrecision.TypeOf(precision));
        Precision = precision;
    }

    /// <summary>Converts the weights to <paramref name="type"/>; a backbone that cannot says so.</summary>
    private protected virtual void ConvertTo(ScalarType type) =>
        throw new HyperpixelFlowException($"backbone {Name} computes in {BackbonePrecision.Fp32} only");

    /// <summary>The layers the paper's matching (rhm) uses when none are given.</summary>
    public IReadOnlyList<int> DefaultLayers { get; }

    /// <summary>The default layers for a matching step: those searched for it, else <see cref="DefaultLayers"/>.</summary>
    public IReadOnlyList<int> DefaultLayersFor(string matching) => _layersByMatching.GetValueOrDefault(matching) ?? DefaultLayers;

    /// <summary>The validated layers a set of options selects: its own, else the default for its matching step.</summary>
    internal IReadOnlyList<int> LayersFor(HyperpixelFlowOptions options) =>
        ValidateLayers(options.Hyperpixels.Layers ?? DefaultLayersFor(options.Matching.Name));

    /// <summary>Sorted, distinct, in-range layer ids; a clear error for anything else.</summary>
    public IReadOnlyList<int> ValidateLayers(IReadOnlyList<int>? layers)
    {
        if (layers is null || layers.Count == 0) throw new HyperpixelFlowException("at least one hyperpixel layer id is required");
        var bad = layers.Where(l => l < 0 || l >= CandidateCount).ToList();
        if (bad.Count > 0)
            throw new HyperpixelFlowException(
                $"layer id(s) {string.Join(",", bad)} invalid for backbone {Name}: valid ids are 0..{CandidateCount - 1}");
        var sorted = layers.Distinct().Order().ToArray();
        if (sorted.Length != layers.Count) throw new HyperpixelFlowException($"layer ids repeat: {string.Join(",", layers)}");
        return sorted;
    }

    /// <summary>
    /// Features [1, C, h, w] of the given (validated) candidate ids, in that order, for an RGB 0..1 image [1, 3, H, W];
    /// candidate id k's map has stride <c>Candidates[k].Jump</c>.
    /// </summary>
    public abstract Tensor[] Extract(Tensor rgb01, IReadOnlyList<int> layers);

    /// <summary>Floating-point operations (2 per multiply-add) of one image of this size through the given layers, in billions; null when unknown.</summary>
    internal virtual double? GigaFlops(int width, int height, IReadOnlyList<int> layers) => null;

    /// <summary>Releases the network's tensors.</summary>
    public abstract void Dispose();
}
