using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>How a backbone wants its input: channel order, value scale, per-channel mean and std.</summary>
internal sealed record Preprocessing(bool Bgr, float Scale, float[] Mean, float[] Std)
{
    /// <summary>torchvision ImageNet models: RGB / 255, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225].</summary>
    public static Preprocessing TorchVision { get; } =
        new(false, 1f, [0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);

    /// <summary>The CNTK ImageNet ResNet: BGR 0..255 minus per-channel means, no scaling.</summary>
    public static Preprocessing Cntk { get; } = new(true, 255f, [103.063f, 115.903f, 123.152f], [1f, 1f, 1f]);

    /// <summary>Maps an RGB 0..1 batch [B, 3, H, W] to the network's input.</summary>
    public Tensor Apply(Tensor rgb01)
    {
        using var scope = NewDisposeScope();
        using var scale = Scale.ToScalar();   // held to the end: see RgbImage.ToTensor
        var x = Bgr ? rgb01.flip(1) : rgb01;
        var mean = tensor(Mean, device: rgb01.device).view(1, 3, 1, 1);
        var std = tensor(Std, device: rgb01.device).view(1, 3, 1, 1);
        return x.mul(scale).sub_(mean).div_(std).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The ResNet feature extractor: a ResNet, its preprocessing and its table of hyperpixel candidates.
/// Candidate ids: 0 = stem max-pool output; k = output of residual block k before its ReLU.
/// </summary>
internal sealed class ResNetBackbone : Backbone
{
    /// <summary>The network in module form (torchvision parameter names, for loading weights). <see cref="Extract"/> runs
    /// its folded form, taken at construction: load weights before creating the backbone. A backbone read from the weight
    /// cache makes its module form on first use.</summary>
    public ResNet Network
    {
        get
        {
            lock (_networkLock) return _network ??= Prepare(_createNetwork!(), Device);
        }
    }

    /// <summary>How images are normalised for this network.</summary>
    public Preprocessing Preprocessing { get; }

    /// <summary>
    /// A backbone of a (weights-loaded) ResNet: <paramref name="defaultLayers"/> serve the paper's matching and every
    /// step without its own entry in <paramref name="layersByMatching"/> (layers searched for a step, e.g. "ot").
    /// </summary>
    /// <param name="name">the name results record</param>
    /// <param name="network">the ResNet in module form, weights loaded</param>
    /// <param name="preprocessing">how its input is normalised</param>
    /// <param name="defaultLayers">default candidate ids</param>
    /// <param name="device">where features are computed</param>
    /// <param name="layersByMatching">default layers per matching step</param>
    public ResNetBackbone(string name, ResNet network, Preprocessing preprocessing, IReadOnlyList<int> defaultLayers, Device device,
        IReadOnlyDictionary<string, IReadOnlyList<int>>? layersByMatching = null)
        : base(name, ComputeCandidateGeometry(network.Architecture), defaultLayers, device, layersByMatching)
    {
        _network = Prepare(network, device);
        Preprocessing = preprocessing;
        _inference = network.Fold();
        if (device.type == DeviceType.CPU) PrepackedConvolution.LoadInBackground();
    }

    /// <summary>A backbone of an inference form read as it is (the weight cache); the module form is made by
    /// <paramref name="createNetwork"/> only if <see cref="Network"/> is asked for.</summary>
    internal ResNetBackbone(string name, ResNetArchitecture architecture, FoldedResNet inference, Func<ResNet> createNetwork,
        Preprocessing preprocessing, IReadOnlyList<int> defaultLayers, Device device, IReadOnlyDictionary<string, IReadOnlyList<int>>? layersByMatching)
        : base(name, ComputeCandidateGeometry(architecture), defaultLayers, device, layersByMatching)
    {
        _createNetwork = createNetwork;
        Preprocessing = preprocessing;
        _inference = inference;
        if (device.type == DeviceType.CPU) PrepackedConvolution.LoadInBackground();
    }

    private static ResNet Prepare(ResNet network, Device device)
    {
        network.to(device);
        network.eval();
        return network;
    }

    private ResNet? _network;
    private readonly Func<ResNet>? _createNetwork;
    private readonly object _networkLock = new();
    private FoldedResNet _inference;

    /// <summary>The inference form <see cref="Extract"/> runs.</summary>
    internal FoldedResNet Inference => _inference;

    /// <summary>The convolutions' floating-point operations (2 per multiply-add) of one image of this size through the given layers, in billions.</summary>
    internal override double? GigaFlops(int width, int height, IReadOnlyList<int> layers)
    {
        using var scope = NewDisposeScope();
        FoldedConv.CountedMultiplyAdds = 0;
        try
        {
            Extract(zeros(1, 3, height, width), layers);
            return 2.0 * FoldedConv.CountedMultiplyAdds!.Value / 1e9;
        }
        finally { FoldedConv.CountedMultiplyAdds = null; }
    }

    /// <summary>Features of the given (validated) layers for an RGB 0..1 image [1, 3, H, W].</summary>
    public override Tensor[] Extract(Tensor rgb01, IReadOnlyList<int> layers)
    {
        using var scope = NewDisposeScope();
        var input = Preprocessing.Apply(rgb01.to(Device)).to(ComputeType);
        var features = _inference.ExtractCandidates(input, layers);
        return features.Select(f => f.to(ScalarType.Float32).MoveToOuterDisposeScope()).ToArray();
    }

    /// <summary>The inference form's weights in <paramref name="type"/> (the weight cache keeps the fp32 form).</summary>
    private protected override void ConvertTo(ScalarType type)
    {
        var converted = _inference.ConvertedTo(type);
        _inference.Dispose();
        _inference = converted;
    }

    /// <summary>
    /// Jump and receptive field of every candidate, by the standard recurrence over the layers: a k x k conv with
    /// dilation d adds (k - 1) * d * jump to the receptive field, then multiplies the jump by its stride. For the
    /// paper's networks this reproduces its tables (ResNet-18-CNTK: jumps 4,4,4,8,..., fields 11,27,43,67,...).
    /// </summary>
    public static IReadOnlyList<CandidateGeometry> ComputeCandidateGeometry(ResNetArchitecture architecture)
    {
        int jump = 1, field = 1;
        void Layer(int kernel, int stride, int dilation = 1) { field += (kernel - 1) * dilation * jump; jump *= stride; }
        Layer(7, 2);
        Layer(3, 2);
        var table = new List<CandidateGeometry> { new(jump, field) };
        int dilation = 1;
        for (int s = 0; s < 4; s++)
        {
            int stageStride = s > 0 ? 2 : 1, previousDilation = dilation;
            if (architecture.IsDilated(s)) { dilation *= stageStride; stageStride = 1; }
            for (int b = 0; b < architecture.StageDepths[s]; b++)
            {
                int stride = b == 0 ? stageStride : 1, d = b == 0 ? previousDilation : dilation;
                if (architecture.Block == ResidualBlockKind.Basic) { Layer(3, stride, d); Layer(3, 1, d); }
                else { Layer(1, 1); Layer(3, stride, d); Layer(1, 1); }
                table.Add(new CandidateGeometry(jump, field));
            }
        }
        return table;
    }

    /// <summary>What candidate id <paramref name="id"/> is, for listings.</summary>
    public static string Describe(ResNetArchitecture architecture, int id)
    {
        if (id == 0) return "stem max-pool";
        var (stage, index) = architecture.BlockPosition(id);
        return $"layer{stage + 1}.{index} (before ReLU)";
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _inference.Dispose();
        lock (_networkLock) _network?.Dispose();
    }
}
