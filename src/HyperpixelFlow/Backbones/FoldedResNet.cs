using static TorchSharp.torch;
using TorchSharp.Modules;

namespace HyperpixelFlow.Backbones;

/// <summary>
/// A convolution with the inference-mode batch norm after it folded in: w' = w * g / sqrt(var + eps) per output
/// channel, b' = beta - mean * g / sqrt(var + eps). One pass over memory instead of two; equal to conv -> norm up to
/// float rounding (relative 1e-6 here, tested).
/// </summary>
internal sealed class FoldedConv : IDisposable
{
    private readonly Tensor _weight, _bias;
    private readonly long _stride, _padding, _dilation;

    private FoldedConv(Tensor weight, Tensor bias, long stride, long padding, long dilation) =>
        (_weight, _bias, _stride, _padding, _dilation) = (weight, bias, stride, padding, dilation);

    public static FoldedConv From(Conv2d conv, BatchNorm2d norm, long stride, long padding, long dilation, bool channelsLast)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var scale = norm.weight!.div((norm.running_var! + norm.eps).sqrt());
        var weight = conv.weight!.mul(scale.view(-1, 1, 1, 1));
        var bias = norm.bias!.sub(norm.running_mean!.mul(scale));
        if (channelsLast) weight = FoldedResNet.ToChannelsLast(weight);
        return new FoldedConv(weight.MoveToOuterDisposeScope(), bias.contiguous().MoveToOuterDisposeScope(), stride, padding, dilation);
    }

    public Tensor Apply(Tensor x) =>
        nn.functional.conv2d(x, _weight, _bias, strides: [_stride, _stride], padding: [_padding, _padding], dilation: [_dilation, _dilation]);

    public void Dispose()
    {
        _weight.Dispose();
        _bias.Dispose();
    }
}

/// <summary>A residual block of folded convolutions; <see cref="Apply"/> returns its output before the final ReLU.</summary>
internal sealed record FoldedBlock(FoldedConv First, FoldedConv Second, FoldedConv? Third, FoldedConv? Shortcut) : IDisposable
{
    public Tensor Apply(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = Second.Apply(nn.functional.relu(First.Apply(x), inplace: true));
        if (Third is not null) y = Third.Apply(nn.functional.relu(y, inplace: true));
        return y.add_(Shortcut is null ? x : Shortcut.Apply(x)).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        First.Dispose();
        Second.Dispose();
        Third?.Dispose();
        Shortcut?.Dispose();
    }
}

/// <summary>
/// The inference form of a <see cref="ResNet"/> that <see cref="Backbone"/> runs: batch norms folded into the
/// convolutions and, by default, activations and weights in channels-last (NHWC) memory order, which lets libtorch
/// pick its oneDNN NHWC convolutions (together about 30% less backbone time on the CPU, measured in docs/performance-log.md).
/// Outputs are returned in the standard contiguous NCHW order and match <see cref="ResNet.ExtractCandidates"/> up to
/// float rounding.
/// </summary>
internal sealed class FoldedResNet : IDisposable
{
    private readonly FoldedConv _stem;
    private readonly FoldedBlock[] _blocks;
    private readonly bool _channelsLast;

    internal FoldedResNet(FoldedConv stem, FoldedBlock[] blocks, bool channelsLast) =>
        (_stem, _blocks, _channelsLast) = (stem, blocks, channelsLast);

    /// <summary>Same contract as <see cref="ResNet.ExtractCandidates"/>.</summary>
    public Tensor[] ExtractCandidates(Tensor input, IReadOnlyList<int> ids)
    {
        using var scope = NewDisposeScope();
        var features = ResNet.WalkCandidates(_channelsLast ? ToChannelsLast(input) : input, ids, _stem.Apply,
            (id, x) => _blocks[id - 1].Apply(x));
        return features.Select(f => f.contiguous().MoveToOuterDisposeScope()).ToArray();
    }

    /// <summary>The same logical [B, C, H, W] tensor with NHWC strides (libtorch's channels_last memory format).</summary>
    internal static Tensor ToChannelsLast(Tensor t) => t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    public void Dispose()
    {
        _stem.Dispose();
        foreach (var b in _blocks) b.Dispose();
    }
}
