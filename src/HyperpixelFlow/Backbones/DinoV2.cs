using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace HyperpixelFlow.Backbones;

/// <summary>
/// Shape of a DINOv2 vision transformer as the official repository builds it (facebookresearch/dinov2,
/// <c>hub/backbones.py</c>): patch 14, a 37 x 37 grid of learned positions (518 px), layer scale, and for the
/// register variants four register tokens with antialiased position interpolation and no offset.
/// </summary>
/// <param name="Name">ViT-S/14, ViT-B/14, ...</param>
/// <param name="EmbedDim">token width</param>
/// <param name="Depth">transformer blocks</param>
/// <param name="Heads">attention heads</param>
/// <param name="SwiGlu">SwiGLU feed-forward (ViT-g) instead of the GELU MLP</param>
/// <param name="Registers">register tokens (0 or 4)</param>
internal sealed record DinoV2Architecture(string Name, int EmbedDim, int Depth, int Heads, bool SwiGlu, int Registers)
{
    /// <summary>Pixels per patch side.</summary>
    public const int PatchSize = 14;
    /// <summary>Side of the learned position grid (518 / 14).</summary>
    public const int PositionGrid = 37;

    /// <summary>The official models interpolate positions with antialiasing and no offset when they have registers.</summary>
    public bool InterpolateAntialias => Registers > 0;
    /// <summary>The official models' "historical kludge" offset, 0.1 without registers and 0 with them.</summary>
    public double InterpolateOffset => Registers > 0 ? 0.0 : 0.1;

    /// <summary>Hidden width of the feed-forward layer: 4 x width, or for SwiGLU (int(4 x width x 2 / 3) + 7) / 8 x 8.</summary>
    public int HiddenDim => SwiGlu ? ((int)(EmbedDim * 4 * 2.0 / 3) + 7) / 8 * 8 : EmbedDim * 4;

    /// <summary>The four published sizes.</summary>
    public static IReadOnlyList<DinoV2Architecture> Sizes { get; } =
    [
        new("ViT-S/14", 384, 12, 6, false, 0),
        new("ViT-B/14", 768, 12, 12, false, 0),
        new("ViT-L/14", 1024, 24, 16, false, 0),
        new("ViT-g/14", 1536, 40, 24, true, 0),
    ];

    /// <summary>This size with registers.</summary>
    public DinoV2Architecture WithRegisters() => this with { Name = Name + " with registers", Registers = 4 };

    /// <summary>Multiply-adds of one image of <paramref name="patches"/> patches through the first <paramref name="blocks"/> blocks (x2 = FLOP).</summary>
    public double MultiplyAdds(int patches, int blocks)
    {
        double n = patches + 1 + Registers, d = EmbedDim;
        double embed = patches * d * 3 * PatchSize * PatchSize;
        double attention = n * d * 3 * d + 2 * n * n * d + n * d * d;
        double feedForward = SwiGlu ? n * d * 2 * HiddenDim + n * HiddenDim * d : 2 * n * d * HiddenDim;
        return embed + blocks * (attention + feedForward);
    }
}

/// <summary>
/// A DINOv2 vision transformer in inference form, with the official repository's parameter names
/// (<c>patch_embed.proj</c>, <c>cls_token</c>, <c>pos_embed</c>, <c>register_tokens</c>, <c>mask_token</c>,
/// <c>blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1/fc2 or mlp.w12/w3, ls2.gamma}</c>, <c>norm</c>)
/// so that its checkpoints load by name. Its forward pass follows the official one operation by operation, position
/// interpolation included; attention is the same softmax(q k^T / sqrt(d)) v through libtorch's fused kernel.
/// </summary>
internal sealed class DinoVisionTransformer : Module<Tensor, Tensor>
{
    // The modules are held through a plain object: TorchSharp registers Module and Parameter fields by reflection under
    // the field's name, which would add a second name for each beside the official one. Parameters are looked up by
    // name when used: converting the module (to bf16) replaces them.
    private sealed record Parts(Conv2d PatchProjection, ModuleList<TransformerBlock> Blocks, LayerNorm Norm);

    private readonly Parts _parts;

    /// <summary>The shape this network was built with.</summary>
    public DinoV2Architecture Architecture { get; }

    /// <summary>A network of the given shape with untrained weights (load a checkpoint into it by name).</summary>
    public DinoVisionTransformer(DinoV2Architecture architecture) : base(nameof(DinoVisionTransformer))
    {
        Architecture = architecture;
        int d = architecture.EmbedDim, p = DinoV2Architecture.PatchSize, grid = DinoV2Architecture.PositionGrid;
        var projection = Conv2d(3, d, p, stride: p);
        var blocks = new ModuleList<TransformerBlock>();
        for (int i = 0; i < architecture.Depth; i++) blocks.Add(new TransformerBlock(architecture));
        _parts = new Parts(projection, blocks, LayerNorm(d, eps: 1e-6));
        register_parameter("cls_token", new Parameter(zeros(1, 1, d), requires_grad: false));
        register_parameter("pos_embed", new Parameter(zeros(1, grid * grid + 1, d), requires_grad: false));
        if (architecture.Registers > 0) register_parameter("register_tokens", new Parameter(zeros(1, architecture.Registers, d), requires_grad: false));
        register_parameter("mask_token", new Parameter(zeros(1, d), requires_grad: false));   // masked training only
        register_module("patch_embed", new Named("PatchEmbed", ("proj", projection)));
        register_module("blocks", blocks);
        register_module("norm", _parts.Norm);
        eval();
    }

    /// <summary>
    /// The tokens [1, 1 + registers + h w, D] after each requested block (ids 0..Depth-1, ascending; a block may be
    /// asked twice, once per form), for a normalised image [1, 3, 14 h, 14 w]; where <paramref name="normalise"/> is set
    /// they pass the final layer norm, as the official <c>get_intermediate_layers(norm=True)</c> does.
    /// </summary>
    public Tensor[] BlockTokens(Tensor image, IReadOnlyList<int> blocks, IReadOnlyList<bool> normalise)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var x = PrepareTokens(image);
        var outputs = new List<Tensor>(blocks.Count);
        int deepest = blocks.Max();
        for (int i = 0, next = 0; i <= deepest; i++)
        {
            x = _parts.Blocks[i].forward(x);
            while (next < blocks.Count && blocks[next] == i)
            {
                outputs.Add(normalise[next] ? _parts.Norm.forward(x) : x);
                next++;
            }
        }
        foreach (var o in outputs) o.MoveToOuterDisposeScope();
        return outputs.ToArray();
    }

    /// <summary>Makes every block's inference form from the current weights (<see cref="TransformerBlock.PrepareInference"/>).</summary>
    public void PrepareInference()
    {
        foreach (var block in _parts.Blocks) block.PrepareInference();
    }

    /// <summary>The last block's normalised tokens.</summary>
    public override Tensor forward(Tensor image) => BlockTokens(image, [Architecture.Depth - 1], [true])[0];

    private Tensor Parameter(string name) => get_parameter(name) ?? throw new InvalidOperationException($"{name} is not registered");

    /// <summary>Patch embedding, class token, interpolated positions, then the registers after the class token.</summary>
    private Tensor PrepareTokens(Tensor image)
    {
        long h = image.shape[2], w = image.shape[3];
        var patches = _parts.PatchProjection.forward(image).flatten(2).transpose(1, 2);
        var x = cat([Parameter("cls_token").expand(image.shape[0], -1, -1), patches], 1);
        x = x.add(InterpolatedPositions(h / DinoV2Architecture.PatchSize, w / DinoV2Architecture.PatchSize));
        if (Architecture.Registers > 0)
            x = cat([x.narrow(1, 0, 1), Parameter("register_tokens").expand(image.shape[0], -1, -1), x.narrow(1, 1, x.shape[1] - 1)], 1);
        return x;
    }

    /// <summary>
    /// The learned 37 x 37 positions resized to rows x cols as the official code does: bicubic, with the scale factor
    /// (cells + offset) / 37 passed to the kernel when the offset is set (so the sampling follows the factor, not the
    /// sizes), else to the size; antialiased for the register models; in fp32 whatever the network's type; unchanged for
    /// a 37 x 37 square.
    /// </summary>
    private Tensor InterpolatedPositions(long rows, long cols)
    {
        const int grid = DinoV2Architecture.PositionGrid;
        Tensor positions = Parameter("pos_embed");
        if (rows == grid && cols == grid) return positions;
        var type = positions.dtype;
        positions = positions.to(ScalarType.Float32);   // resized in fp32 and cast back, as the official code does
        long d = positions.shape[2];
        var classPosition = positions.narrow(1, 0, 1);
        var patchPositions = positions.narrow(1, 1, grid * grid).reshape(1, grid, grid, d).permute(0, 3, 1, 2);
        double offset = Architecture.InterpolateOffset;
        var resized = offset != 0
            ? functional.interpolate(patchPositions, scale_factor: [(rows + offset) / grid, (cols + offset) / grid],
                mode: InterpolationMode.Bicubic, align_corners: false, antialias: Architecture.InterpolateAntialias)
            : functional.interpolate(patchPositions, size: [rows, cols], mode: InterpolationMode.Bicubic, align_corners: false,
                antialias: Architecture.InterpolateAntialias);
        if (resized.shape[2] != rows || resized.shape[3] != cols)
            throw new InvalidOperationException($"position interpolation gave {resized.shape[2]}x{resized.shape[3]}, expected {rows}x{cols}");
        return cat([classPosition, resized.permute(0, 2, 3, 1).reshape(1, rows * cols, d)], 1).to(type);
    }
}

/// <summary>A container that only names its children and parameters (the official sub-module names).</summary>
internal sealed class Named : Module
{
    public Named(string typeName, params (string Name, Module Child)[] children) : base(typeName)
    {
        foreach (var (name, child) in children) register_module(name, child);
    }

    public Named(string typeName, Tensor gamma) : base(typeName) => register_parameter("gamma", new Parameter(gamma, requires_grad: false));

    /// <summary>A layer scale's per-channel factor (looked up: converting the module replaces it).</summary>
    public Tensor Gamma => get_parameter("gamma") ?? throw new InvalidOperationException("layer scale without gamma");
}

/// <summary>
/// One pre-norm transformer block: x + ls1 * attn(norm1(x)), then x + ls2 * mlp(norm2(x)); the MLP is GELU (exact) or
/// SwiGLU (silu(x1) * x2 of the fused <c>w12</c> projection's halves).
/// </summary>
internal sealed class TransformerBlock : Module<Tensor, Tensor>
{
    // Held through a plain object: TorchSharp registers Module fields by reflection under the field's name.
    private sealed record Parts(LayerNorm Norm1, LayerNorm Norm2, Linear Qkv, Linear Projection, Linear In, Linear Out, Named Scale1, Named Scale2);

    private readonly Parts _parts;
    private readonly bool _swiGlu;
    private Pointwise[]? _pointwise;   // qkv, proj, in, out as 1 x 1 convolutions (see PrepareInference)
    private readonly long _heads;

    public TransformerBlock(DinoV2Architecture architecture) : base(nameof(TransformerBlock))
    {
        int d = architecture.EmbedDim, hidden = architecture.HiddenDim;
        (_swiGlu, _heads) = (architecture.SwiGlu, architecture.Heads);
        var p = _parts = new Parts(LayerNorm(d, eps: 1e-6), LayerNorm(d, eps: 1e-6), Linear(d, 3 * d), Linear(d, d),
            Linear(d, _swiGlu ? 2 * hidden : hidden), Linear(hidden, d), new Named("LayerScale", gamma: ones(d)), new Named("LayerScale", gamma: ones(d)));
        register_module("norm1", p.Norm1);
        register_module("attn", new Named("Attention", ("qkv", p.Qkv), ("proj", p.Projection)));
        register_module("ls1", p.Scale1);
        register_module("norm2", p.Norm2);
        register_module("mlp", _swiGlu ? new Named("SwiGLUFFNFused", ("w12", p.In), ("w3", p.Out)) : new Named("Mlp", ("fc1", p.In), ("fc2", p.Out)));
        register_module("ls2", p.Scale2);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x.add(Attention(_parts.Norm1.forward(x)).mul_(_parts.Scale1.Gamma));
        x = x.add(FeedForward(_parts.Norm2.forward(x)).mul_(_parts.Scale2.Gamma));
        return x.MoveToOuterDisposeScope();
    }

    private Tensor Attention(Tensor x)
    {
        long b = x.shape[0], n = x.shape[1], c = x.shape[2];
        var qkv = Apply(0, _parts.Qkv, x).reshape(b, n, 3, _heads, c / _heads).permute(2, 0, 3, 1, 4);
        var attended = functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]);
        return Apply(1, _parts.Projection, attended.transpose(1, 2).reshape(b, n, c));
    }

    private Tensor FeedForward(Tensor x)
    {
        var hidden = Apply(2, _parts.In, x);
        if (_swiGlu)
        {
            var halves = hidden.chunk(2, -1);
            hidden = functional.silu(halves[0]).mul_(halves[1]);
        }
        else hidden = functional.gelu(hidden);
        return Apply(3, _parts.Out, hidden);
    }

    /// <summary>
    /// Takes the current weights of the four token-wise projections as 1 x 1 convolutions over tokens laid out
    /// channels-last: libtorch runs those through oneDNN, well over twice as fast on CPU as its matrix product for
    /// these shapes (docs/performance-log.md), and <see cref="PrepackedConvolution"/> reorders their weights once. The
    /// same sums in another order: tokens differ from the module form's by float rounding only. Later changes to the
    /// weights do not reach it; call it again after loading.
    /// </summary>
    public void PrepareInference()
    {
        Linear[] layers = [_parts.Qkv, _parts.Projection, _parts.In, _parts.Out];
        var previous = _pointwise;
        _pointwise = layers.Select(Pointwise.From).ToArray();
        if (previous is not null) foreach (var p in previous) p.Dispose();
    }

    /// <summary>Projection <paramref name="index"/> of tokens [B, N, D]: the prepared convolution when there is one, else the module.</summary>
    private Tensor Apply(int index, Linear layer, Tensor x) => _pointwise is { } prepared ? prepared[index].Apply(x) : layer.forward(x);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && _pointwise is not null) foreach (var p in _pointwise) p.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>A linear layer as a 1 x 1 convolution with a channels-last weight [out, in, 1, 1].</summary>
    private sealed class Pointwise(Tensor weight, Tensor? bias) : IDisposable
    {
        private readonly PrepackedConvolution _convolution = new(weight, bias, 1, 0, 1);

        public static Pointwise From(Linear layer)
        {
            using var noGrad = no_grad();
            var w = layer.weight!.detach();
            return new Pointwise(FoldedResNet.ToChannelsLast(w.view(w.shape[0], w.shape[1], 1, 1)), layer.bias?.detach().clone());
        }

        /// <summary>[B, N, D] -> [B, N, out]: the tokens viewed as a channels-last [B, D, N, 1] image, no copy either way.</summary>
        public Tensor Apply(Tensor x)
        {
            long b = x.shape[0], n = x.shape[1], d = x.shape[2];
            var image = x.contiguous().view(b, n, 1, d).permute(0, 3, 1, 2);
            return _convolution.Apply(image).permute(0, 2, 3, 1).reshape(b, n, weight.shape[0]);
        }

        public void Dispose()
        {
            _convolution.Dispose();
            weight.Dispose();
            bias?.Dispose();
        }
    }
}
