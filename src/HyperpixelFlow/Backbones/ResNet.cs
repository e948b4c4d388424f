using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace HyperpixelFlow.Backbones;

/// <summary>The residual block of a ResNet.</summary>
internal enum ResidualBlockKind
{
    /// <summary>Two 3 x 3 convolutions (ResNet-18/34).</summary>
    Basic,
    /// <summary>1 x 1, 3 x 3, 1 x 1 convolutions with 4x expansion (ResNet-50/101).</summary>
    Bottleneck,
}

/// <summary>Shape of a ResNet: block type and number of blocks in each of the four stages.</summary>
/// <param name="Block">basic or bottleneck blocks</param>
/// <param name="StageDepths">blocks in each of the four stages</param>
/// <param name="DilatedStages">Per stage: replace its stride by dilation (FCN backbones dilate stages 3 and 4).</param>
internal sealed record ResNetArchitecture(ResidualBlockKind Block, int[] StageDepths, bool[]? DilatedStages = null)
{
    /// <summary>Whether stage <paramref name="stage"/> (0-3) replaces its stride by dilation.</summary>
    public bool IsDilated(int stage) => DilatedStages is not null && DilatedStages[stage];
    /// <summary>Channel expansion of a block's output (1 for basic blocks, 4 for bottlenecks).</summary>
    public int Expansion => Block == ResidualBlockKind.Basic ? 1 : 4;
    /// <summary>Residual blocks over all stages: the candidate ids 1..BlockCount.</summary>
    public int BlockCount => StageDepths.Sum();
    /// <summary>Stage (0..3) and index within it of block id (1-based over all blocks).</summary>
    public (int Stage, int Index) BlockPosition(int id)
    {
        int remaining = id;
        for (int s = 0; s < 4; s++)
        {
            if (remaining >= 1 && remaining <= StageDepths[s]) return (s, remaining - 1);
            remaining -= StageDepths[s];
        }
        throw new ArgumentOutOfRangeException(nameof(id));
    }
    /// <summary>Hyperpixel candidates: the stem (id 0) and every residual block.</summary>
    public int CandidateCount => BlockCount + 1;
}

/// <summary>
/// One residual block with torchvision's parameter names (conv1/bn1/..., downsample.0/1) and stride on the 3x3 conv.
/// <see cref="forward"/> returns the sum of the residual path and the shortcut BEFORE the final ReLU: that
/// pre-activation is what Hyperpixel Flow takes as a hyperpixel feature.
/// </summary>
internal sealed class ResidualBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2;
    private readonly BatchNorm2d bn1, bn2;
    private readonly Conv2d? conv3;
    private readonly BatchNorm2d? bn3;
    private readonly Sequential? downsample;
    private readonly long _stride, _dilation;

    public ResidualBlock(ResidualBlockKind kind, long inChannels, long width, long stride, long dilation, long expansion)
        : base(nameof(ResidualBlock))
    {
        (_stride, _dilation) = (stride, dilation);
        long outChannels = width * expansion;
        if (kind == ResidualBlockKind.Basic)
        {
            conv1 = Conv2d(inChannels, width, 3, stride: stride, padding: dilation, dilation: dilation, bias: false);
            bn1 = BatchNorm2d(width);
            conv2 = Conv2d(width, width, 3, padding: dilation, dilation: dilation, bias: false);
            bn2 = BatchNorm2d(width);
        }
        else
        {
            conv1 = Conv2d(inChannels, width, 1, bias: false);
            bn1 = BatchNorm2d(width);
            conv2 = Conv2d(width, width, 3, stride: stride, padding: dilation, dilation: dilation, bias: false);
            bn2 = BatchNorm2d(width);
            conv3 = Conv2d(width, outChannels, 1, bias: false);
            bn3 = BatchNorm2d(outChannels);
        }
        if (stride != 1 || inChannels != outChannels)
            downsample = Sequential(Conv2d(inChannels, outChannels, 1, stride: stride, bias: false), BatchNorm2d(outChannels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = functional.relu(bn1.forward(conv1.forward(x)));
        y = bn2.forward(conv2.forward(y));
        if (conv3 is not null) y = bn3!.forward(conv3.forward(functional.relu(y)));
        var shortcut = downsample is null ? x : downsample.forward(x);
        return y.add_(shortcut).MoveToOuterDisposeScope();
    }

    /// <summary>The same block with every batch norm folded into its convolution (see <see cref="FoldedConv"/>).</summary>
    public FoldedBlock Fold(bool channelsLast)
    {
        // The 3x3 conv carries stride and dilation: conv1 in a basic block, conv2 in a bottleneck.
        bool basic = conv3 is null;
        var first = FoldedConv.From(conv1, bn1, basic ? _stride : 1, basic ? _dilation : 0, basic ? _dilation : 1, channelsLast);
        var second = FoldedConv.From(conv2, bn2, basic ? 1 : _stride, _dilation, _dilation, channelsLast);
        var third = conv3 is null ? null : FoldedConv.From(conv3, bn3!, 1, 0, 1, channelsLast);
        var shortcut = downsample is null ? null
            : FoldedConv.From((Conv2d)downsample[0], (BatchNorm2d)downsample[1], _stride, 0, 1, channelsLast);
        return new FoldedBlock(first, second, third, shortcut);
    }
}

/// <summary>
/// ResNet trunk (no pooling/classifier head) in eval mode that yields Hyperpixel Flow candidate features:
/// id 0 = stem max-pool output, id k = output of the k-th residual block before its ReLU.
/// </summary>
internal sealed class ResNet : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ModuleList<ResidualBlock> layer1, layer2, layer3, layer4;
    private readonly ResidualBlock[] _blocks;

    /// <summary>Block kind and stage depths of this network.</summary>
    public ResNetArchitecture Architecture { get; }

    /// <summary>A ResNet of the given shape with freshly initialised weights (load weights into it by name).</summary>
    public ResNet(ResNetArchitecture architecture) : base(nameof(ResNet))
    {
        if (architecture.StageDepths.Length != 4 || architecture.StageDepths.Any(d => d < 1))
            throw new ArgumentException("a ResNet has four stages of at least one block each", nameof(architecture));
        Architecture = architecture;
        conv1 = Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false);
        bn1 = BatchNorm2d(64);
        long inChannels = 64, dilation = 1;
        var stages = new ModuleList<ResidualBlock>[4];
        for (int s = 0; s < 4; s++)
        {
            long width = 64L << s;
            stages[s] = new ModuleList<ResidualBlock>();
            // As torchvision: a dilated stage keeps stride 1, its first block keeps the previous dilation.
            long stageStride = s > 0 ? 2 : 1, previousDilation = dilation;
            if (architecture.IsDilated(s)) { dilation *= stageStride; stageStride = 1; }
            for (int b = 0; b < architecture.StageDepths[s]; b++)
            {
                long stride = b == 0 ? stageStride : 1;
                long blockDilation = b == 0 ? previousDilation : dilation;
                stages[s].Add(new ResidualBlock(architecture.Block, inChannels, width, stride, blockDilation, architecture.Expansion));
                inChannels = width * architecture.Expansion;
            }
        }
        (layer1, layer2, layer3, layer4) = (stages[0], stages[1], stages[2], stages[3]);
        _blocks = stages.SelectMany(s => s).ToArray();
        RegisterComponents();
        eval();
    }

    /// <summary>
    /// Runs the network on a preprocessed batch [1, 3, H, W] up to the deepest requested id and returns the
    /// features of the requested ids (ascending, distinct, validated by the caller) in that order.
    /// </summary>
    public Tensor[] ExtractCandidates(Tensor input, IReadOnlyList<int> ids) =>
        WalkCandidates(input, ids, x => bn1.forward(conv1.forward(x)), (id, x) => _blocks[id - 1].forward(x));

    /// <summary>
    /// The candidate walk shared by the module form and the folded form: stem conv (+ norm) -> ReLU -> 3x3/2 max-pool
    /// (id 0), then block by block up to the deepest requested id, collecting the requested pre-activations.
    /// </summary>
    internal static Tensor[] WalkCandidates(Tensor input, IReadOnlyList<int> ids, Func<Tensor, Tensor> stem, Func<int, Tensor, Tensor> block)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var wanted = new HashSet<int>(ids);
        int deepest = ids.Max();
        var outputs = new List<Tensor>(ids.Count);
        var x = functional.max_pool2d(functional.relu(stem(input)), 3, 2, 1);
        if (wanted.Contains(0)) outputs.Add(x);
        for (int id = 1; id <= deepest; id++)
        {
            var preActivation = block(id, x);
            if (wanted.Contains(id)) outputs.Add(preActivation);
            if (id < deepest) x = functional.relu(preActivation);
        }
        foreach (var o in outputs) o.MoveToOuterDisposeScope();
        return outputs.ToArray();
    }

    /// <summary>
    /// The inference form of this network's current weights: batch norms folded into the convolutions, tensors in
    /// channels-last order when <paramref name="channelsLast"/>. Later changes to this module's weights do not reach it.
    /// </summary>
    internal FoldedResNet Fold(bool channelsLast = true) =>
        new(FoldedConv.From(conv1, bn1, 2, 3, 1, channelsLast), _blocks.Select(b => b.Fold(channelsLast)).ToArray(), channelsLast);

    /// <summary>The module form's forward pass: the deepest candidate's features.</summary>
    public override Tensor forward(Tensor input) => ExtractCandidates(input, [Architecture.BlockCount])[0];
}
