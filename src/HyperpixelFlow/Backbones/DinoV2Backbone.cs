using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>
/// A DINOv2 ViT as a hyperpixel source. Candidate ids 0..Depth-1 are the patch tokens after block k passed through the
/// final layer norm (the official <c>get_intermediate_layers</c> default); Depth..2 Depth-1 the same blocks' raw
/// tokens. Every candidate has stride 14 and sits at the centre of its patch; its tokens see the whole image, so the
/// box a hyperpixel owns (which points it moves in transfer, which cells margin pruning keeps) is its patch and half a
/// patch on each side, about the default ResNet's first-layer box.
/// <para>
/// Input: ImageNet mean/std on RGB. An image whose sides are not multiples of 14 is padded at the right and bottom by
/// repeating its edge (at most 13 pixels), so one scale still maps both axes back to the original; tokens that lie
/// mostly in that strip are dropped by margin pruning. Choose a working side that is a multiple of 14 (448, 518).
/// </para>
/// </summary>
internal sealed class DinoV2Backbone : Backbone
{
    /// <summary>Side of the box a token owns: its patch plus half a patch around it.</summary>
    public const int BoxSide = 2 * DinoV2Architecture.PatchSize;

    private readonly DinoVisionTransformer _network;

    /// <summary>A backbone of a weights-loaded network, which it owns from here on (load weights before: it takes their inference form).</summary>
    public DinoV2Backbone(string name, DinoVisionTransformer network, IReadOnlyList<int> defaultLayers, Device device,
        IReadOnlyDictionary<string, IReadOnlyList<int>>? layersByMatching)
        : base(name, CandidateTable(network.Architecture), defaultLayers, device, layersByMatching)
    {
        _network = network;
        _network.to(device);
        _network.eval();
        _network.PrepareInference();
    }

    /// <summary>The network's shape.</summary>
    public DinoV2Architecture Architecture => _network.Architecture;

    /// <summary>The transformer itself (its tokens, for tests against the official code).</summary>
    internal DinoVisionTransformer Network => _network;

    /// <summary>Every candidate: stride 14, centred on its patch, the whole image in view.</summary>
    public static IReadOnlyList<CandidateGeometry> CandidateTable(DinoV2Architecture architecture) =>
        Enumerable.Repeat(new CandidateGeometry(DinoV2Architecture.PatchSize, BoxSide, DinoV2Architecture.PatchSize / 2, SeesWholeImage: true),
            2 * architecture.Depth).ToList();

    /// <summary>What candidate id <paramref name="id"/> is, for listings.</summary>
    public static string Describe(DinoV2Architecture architecture, int id) =>
        id < architecture.Depth ? $"block {id} patch tokens, final norm" : $"block {id - architecture.Depth} patch tokens, raw";

    /// <summary>Token features [1, D, h, w] of the requested ids for an RGB 0..1 image [1, 3, H, W].</summary>
    public override Tensor[] Extract(Tensor rgb01, IReadOnlyList<int> layers)
    {
        using var scope = NewDisposeScope();
        var input = PaddedToPatches(Preprocessing.TorchVision.Apply(rgb01.to(Device))).to(ComputeType);
        long rows = input.shape[2] / DinoV2Architecture.PatchSize, cols = input.shape[3] / DinoV2Architecture.PatchSize;
        int depth = Architecture.Depth;
        var blocks = layers.Select(l => l % depth).ToList();
        // Both forms of one block are one walk: order by block, then map the outputs back to the requested order.
        var order = Enumerable.Range(0, layers.Count).OrderBy(i => blocks[i]).ThenBy(i => layers[i]).ToList();
        var tokens = _network.BlockTokens(input, order.Select(i => blocks[i]).ToList(), order.Select(i => layers[i] < depth).ToList());
        var result = new Tensor[layers.Count];
        int skip = 1 + Architecture.Registers;
        for (int k = 0; k < order.Count; k++)
            result[order[k]] = tokens[k].narrow(1, skip, rows * cols).reshape(1, rows, cols, -1).permute(0, 3, 1, 2)
                .to(ScalarType.Float32).contiguous().MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>Pads [1, 3, H, W] at the right and bottom by edge replication to multiples of the patch size.</summary>
    private static Tensor PaddedToPatches(Tensor image)
    {
        const int p = DinoV2Architecture.PatchSize;
        long h = image.shape[2], w = image.shape[3];
        long padH = (p - h % p) % p, padW = (p - w % p) % p;
        return padH == 0 && padW == 0 ? image : nn.functional.pad(image, [0, padW, 0, padH], PaddingModes.Replicate);
    }

    /// <summary>Floating-point operations (2 per multiply-add) of one image of this size up to the deepest requested block, in billions.</summary>
    internal override double? GigaFlops(int width, int height, IReadOnlyList<int> layers)
    {
        const int p = DinoV2Architecture.PatchSize;
        int patches = ((height + p - 1) / p) * ((width + p - 1) / p);
        return 2 * Architecture.MultiplyAdds(patches, layers.Max(l => l % Architecture.Depth) + 1) / 1e9;
    }

    /// <summary>The network's parameters in <paramref name="type"/>, and its inference form anew.</summary>
    private protected override void ConvertTo(ScalarType type)
    {
        _network.to(type);
        _network.PrepareInference();
    }

    /// <inheritdoc />
    public override void Dispose() => _network.Dispose();
}
