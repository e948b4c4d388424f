using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>What a registered backbone is: its network shape, input convention, candidates, default layers and weights.</summary>
public sealed record BackboneSpec
{
    internal BackboneSpec(string name, string description, ResNetArchitecture architecture, Preprocessing preprocessing,
        IReadOnlyList<int> defaultLayers, bool hasBundledWeights, IReadOnlyDictionary<string, IReadOnlyList<int>>? layersByMatching = null)
    {
        (Name, Description, _resNet, Preprocessing, DefaultLayers, HasBundledWeights, LayersByMatching) =
            (name, description, architecture, preprocessing, defaultLayers, hasBundledWeights, layersByMatching);
        Candidates = ResNetBackbone.ComputeCandidateGeometry(architecture);
        CandidateNames = Enumerable.Range(0, Candidates.Count).Select(id => ResNetBackbone.Describe(architecture, id)).ToList();
        WeightsFile = hasBundledWeights ? "bundled" : "a torchvision state dict (.pth or .safetensors)";
    }

    internal BackboneSpec(string name, DinoV2Architecture transformer, string officialFile, string hubRepository)
    {
        (Name, Transformer, Preprocessing, HasBundledWeights) = (name, transformer, Preprocessing.TorchVision, false);
        Description = $"DINOv2 {transformer.Name} (Oquab et al. 2023): patch tokens of each block; layers not searched (no weights here)";
        Candidates = DinoV2Backbone.CandidateTable(transformer);
        CandidateNames = Enumerable.Range(0, Candidates.Count).Select(id => DinoV2Backbone.Describe(transformer, id)).ToList();
        int last = transformer.Depth - 1;
        // The official linear evaluation reads the last four blocks: the Hough default; OT takes the last alone.
        DefaultLayers = [last - 3, last - 2, last - 1, last];
        LayersByMatching = new Dictionary<string, IReadOnlyList<int>> { ["ot"] = [last] };
        WeightsFile = $"{officialFile} (official) or model.safetensors of {hubRepository} (Hugging Face)";
        WorkingSide = 32 * DinoV2Architecture.PatchSize;
    }

    private readonly ResNetArchitecture? _resNet;

    /// <summary>The registry name (<c>resnet18-cntk</c>, <c>resnet101</c>, <c>dinov2-vitb14</c>, ...).</summary>
    public string Name { get; }
    /// <summary>What the network is and where its weights come from.</summary>
    public string Description { get; }
    /// <summary>Stride, box and origin of every hyperpixel candidate id.</summary>
    public IReadOnlyList<CandidateGeometry> Candidates { get; }
    /// <summary>What each candidate id is (which block, which form).</summary>
    public IReadOnlyList<string> CandidateNames { get; }
    /// <summary>The weights file the backbone needs (or "bundled").</summary>
    public string WeightsFile { get; }
    /// <summary>
    /// The working side (longer image side, smaller images enlarged) the backbone is meant to run at, when it differs
    /// from the presets' (null: theirs): 448 = 32 patches for DINOv2. The command line uses it unless --max-side is given.
    /// </summary>
    public int? WorkingSide { get; }
    /// <summary>The ResNet's shape: block kind, blocks per stage, dilated stages (ResNets only).</summary>
    internal ResNetArchitecture Architecture => _resNet ?? throw new InvalidOperationException($"{Name} is not a ResNet");
    /// <summary>The transformer's shape (DINOv2 backbones only).</summary>
    internal DinoV2Architecture? Transformer { get; }
    /// <summary>How its input is normalised.</summary>
    internal Preprocessing Preprocessing { get; }
    /// <summary>The hyperpixel layers the paper's matching uses when none are given.</summary>
    public IReadOnlyList<int> DefaultLayers { get; }
    /// <summary>Whether the package carries its weights (no file needed).</summary>
    public bool HasBundledWeights { get; }
    /// <summary>Default layers searched for particular matching steps (e.g. "ot").</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<int>>? LayersByMatching { get; }
}

/// <summary>Backbones by name (the model factory): <c>BackboneRegistry.Create("resnet18-cntk")</c>.</summary>
public static class BackboneRegistry
{
    /// <summary>The backbone used when none is named: the bundled ResNet-18.</summary>
    public const string DefaultName = "resnet18-cntk";

    private static readonly int[] R50Depths = [3, 4, 6, 3], R101Depths = [3, 4, 23, 3];

    /// <summary>Every registered backbone, in the order <c>hpf backbones</c> lists them.</summary>
    public static IReadOnlyList<BackboneSpec> All { get; } =
    [
        // Default layers chosen by beam search (beam 4, depth 8) on PF-WILLOW val_pairs.csv, once per matching step
        // (rhm: the paper's matching; ot: optimal transport): see docs/results.md, "Layer selection".
        new(DefaultName, "ImageNet ResNet-18 (CNTK export, bundled from NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1)",
            new(ResidualBlockKind.Basic, [2, 2, 2, 3]), Preprocessing.Cntk, [1, 3, 4, 5, 6, 8], hasBundledWeights: true,
            layersByMatching: new Dictionary<string, IReadOnlyList<int>> { ["ot"] = [1, 2, 4, 5, 6, 8] }),
        new("resnet18", "torchvision ResNet-18 (ImageNet)", new(ResidualBlockKind.Basic, [2, 2, 2, 2]),
            Preprocessing.TorchVision, [2, 4, 5, 6, 7], false),
        new("resnet34", "torchvision ResNet-34 (ImageNet); default layers by analogy with ResNet-18 (not searched)", new(ResidualBlockKind.Basic, [3, 4, 6, 3]),
            Preprocessing.TorchVision, [3, 7, 10, 13, 14], false),
        new("resnet50", "torchvision ResNet-50 (ImageNet); paper layers for PF-PASCAL", new(ResidualBlockKind.Bottleneck, R50Depths),
            Preprocessing.TorchVision, [2, 7, 11, 12, 13], false),
        new("resnet101", "torchvision ResNet-101 (ImageNet); paper layers for PF-PASCAL/PF-WILLOW",
            new(ResidualBlockKind.Bottleneck, R101Depths), Preprocessing.TorchVision, [2, 17, 21, 22, 25, 26, 28], false),
        new("fcn101", "torchvision FCN-ResNet-101 backbone (stages 3-4 dilated); paper layers",
            new(ResidualBlockKind.Bottleneck, R101Depths, [false, false, true, true]), Preprocessing.TorchVision,
            [2, 4, 5, 18, 19, 20, 24, 32], false),
        .. DinoV2Specs(),
    ];

    /// <summary>The DINOv2 sizes with and without registers, named as the official hub entries (dinov2_vits14_reg -> dinov2-vits14-reg).</summary>
    private static IEnumerable<BackboneSpec> DinoV2Specs()
    {
        (string Short, string Hub)[] names = [("s", "small"), ("b", "base"), ("l", "large"), ("g", "giant")];
        foreach (bool registers in new[] { false, true })
            for (int i = 0; i < names.Length; i++)
            {
                var architecture = registers ? DinoV2Architecture.Sizes[i].WithRegisters() : DinoV2Architecture.Sizes[i];
                string official = $"dinov2_vit{names[i].Short}14{(registers ? "_reg4" : "")}_pretrain.pth";
                string hub = $"facebook/dinov2-{(registers ? "with-registers-" : "")}{names[i].Hub}";
                yield return new BackboneSpec($"dinov2-vit{names[i].Short}14{(registers ? "-reg" : "")}", architecture, official, hub);
            }
    }

    /// <summary>The backbone of a name (case-insensitive); a clear error listing the known names otherwise.</summary>
    public static BackboneSpec Get(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new HyperpixelFlowException($"unknown backbone '{name}'; known: {string.Join(", ", All.Select(s => s.Name))}");

    /// <summary>
    /// Builds a backbone with its bundled weights or those of <paramref name="weightsPath"/>, computing in
    /// <paramref name="precision"/>: "fp32" (the default) or "bf16" (CPUs with AVX512-BF16 or AMX, GPUs).
    /// </summary>
    public static Backbone Create(string name, string? weightsPath = null, string device = "cpu", string precision = BackbonePrecision.Fp32)
    {
        var backbone = CreateFloat32(name, weightsPath, device);
        try
        {
            backbone.SwitchPrecision(precision);
            return backbone;
        }
        catch
        {
            backbone.Dispose();
            throw;
        }
    }

    private static Backbone CreateFloat32(string name, string? weightsPath, string device)
    {
        var spec = Get(name);
        var torchDevice = ParseDevice(device);
        if (weightsPath is null && spec.HasBundledWeights) return CreateBundled(spec, torchDevice);
        if (weightsPath is null)
            throw new HyperpixelFlowException($"backbone '{spec.Name}' has no bundled weights: pass {spec.WeightsFile} with --weights");
        if (spec.Transformer is { } transformer) return CreateDinoV2(spec, transformer, weightsPath, torchDevice);
        return FromNetwork(spec, LoadNetwork(spec, network => WeightFiles.LoadInto(network, weightsPath)), torchDevice);
    }

    /// <summary>A DINOv2 backbone from a checkpoint of either published layout; a clear error when it holds another size.</summary>
    private static DinoV2Backbone CreateDinoV2(BackboneSpec spec, DinoV2Architecture expected, string weightsPath, Device device)
    {
        var (weights, found) = DinoV2Checkpoint.Read(weightsPath);
        var network = new DinoVisionTransformer(expected);
        try
        {
            if (found != expected)
            {
                var match = All.FirstOrDefault(s => s.Transformer == found);
                throw new HyperpixelFlowException($"{weightsPath} holds DINOv2 {found.Name}, but backbone {spec.Name} is {expected.Name}" +
                    (match is null ? "" : $"; use --backbone {match.Name}"));
            }
            StateDict.Load(network, weights, weightsPath);
            return new DinoV2Backbone(spec.Name, network, spec.DefaultLayers, device, spec.LayersByMatching);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        finally { foreach (var t in weights.Values) t.Dispose(); }
    }

    /// <summary>Where the bundled ONNX file is copied by the build (next to the library).</summary>
    public static string BundledWeightsPath =>
        Path.Combine(AppContext.BaseDirectory, "weights", "ResNet18.onnx");

    /// <summary>The bundled network: its inference form from the weight cache when there, else imported (and cached).</summary>
    private static ResNetBackbone CreateBundled(BackboneSpec spec, Device device)
    {
        var path = BundledWeightsPath;
        if (!File.Exists(path))
            throw new HyperpixelFlowException($"bundled weights missing at {path}; rebuild the project (dotnet build) to restore them");
        var cached = WeightCache.PathFor(path, spec.Name);
        if (WeightCache.TryLoad(cached, device) is { } inference)
            return new ResNetBackbone(spec.Name, spec.Architecture, inference, () => ImportBundled(spec, path), spec.Preprocessing, spec.DefaultLayers,
                device, spec.LayersByMatching);
        var backbone = FromNetwork(spec, ImportBundled(spec, path), device);
        try { WeightCache.Save(backbone.Inference, cached); }
        catch
        {
            backbone.Dispose();
            throw;
        }
        return backbone;
    }

    /// <summary>The bundled ONNX weights in module form.</summary>
    internal static ResNet ImportBundled(BackboneSpec spec, string path) => LoadNetwork(spec, network =>
    {
        var weights = CntkResNetImporter.ToStateDict(OnnxModel.Load(path), spec.Architecture, path);
        try { StateDict.Load(network, weights, path); }
        finally { foreach (var t in weights.Values) t.Dispose(); }
    });

    /// <summary>A new network of the spec's shape with weights put in by <paramref name="load"/> (disposed if that fails).</summary>
    private static ResNet LoadNetwork(BackboneSpec spec, Action<ResNet> load)
    {
        var network = new ResNet(spec.Architecture);
        try
        {
            load(network);
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>The backbone of a weights-loaded network, which it owns from here on (disposed if the backbone cannot be made).</summary>
    private static ResNetBackbone FromNetwork(BackboneSpec spec, ResNet network, Device device)
    {
        try
        {
            return new ResNetBackbone(spec.Name, network, spec.Preprocessing, spec.DefaultLayers, device, spec.LayersByMatching);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private static Device ParseDevice(string device)
    {
        var parts = System.Text.RegularExpressions.Regex.Match(device.Trim(), "^(cpu|cuda)(:[0-9]+)?$",
            System.Text.RegularExpressions.RegexOptions.IgnoreCase);
        if (!parts.Success) throw new HyperpixelFlowException($"device '{device}' is not cpu, cuda or cuda:N");
        if (parts.Groups[1].Value.Equals("cuda", StringComparison.OrdinalIgnoreCase))
        {
            bool available;
            try { available = cuda.is_available(); }
            catch (InvalidOperationException) { available = false; }   // TorchSharp's answer when libtorch has no CUDA backend
            if (!available)
                throw new HyperpixelFlowException($"device '{device}': no CUDA here (this build uses the CPU libtorch, or no GPU is visible); use --device cpu");
        }
        return torch.device(device.Trim().ToLowerInvariant());
    }
}
