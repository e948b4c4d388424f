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

    private readonly PrepackedConvolution _convolution;

    private FoldedConv(Tensor weight, Tensor bias, long stride, long padding, long dilation)
    {
        (_weight, _bias, _stride, _padding, _dilation) = (weight, bias, stride, padding, dilation);
        _convolution = new PrepackedConvolution(weight, bias, stride, padding, dilation);
    }

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

    /// <summary>The same convolution with weight and bias in <paramref name="type"/>, memory order kept.</summary>
    public FoldedConv ConvertedTo(ScalarType type, bool channelsLast)
    {
        var weight = _weight.to(type);
        return new FoldedConv(channelsLast ? FoldedResNet.ToChannelsLast(weight) : weight.contiguous(), _bias.to(type), _stride, _padding, _dilation);
    }

    public Tensor Apply(Tensor x)
    {
        var y = _convolution.Apply(x);
        if (CountedMultiplyAdds is { } count) CountedMultiplyAdds = count + y.numel() * _weight.shape[1] * _weight.shape[2] * _weight.shape[3];
        return y;
    }

    /// <summary>When not null, every convolution run on this thread adds its multiply-adds here (<see cref="ResNetBackbone.GigaFlops"/>).</summary>
    [ThreadStatic] internal static long? CountedMultiplyAdds;

    /// <summary>Writes the geometry and the tensors in their memory order (channels-last weights as such).</summary>
    public void Write(BinaryWriter writer, bool channelsLast)
    {
        writer.Write(_stride);
        writer.Write(_padding);
        writer.Write(_dilation);
        using var scope = NewDisposeScope();
        WriteTensor(writer, (channelsLast ? _weight.permute(0, 2, 3, 1) : _weight).cpu().contiguous());
        WriteTensor(writer, _bias.cpu().contiguous());
    }

    /// <summary>Reads what <see cref="Write"/> wrote; the tensors are views of <paramref name="file"/> (the whole file mapped as
    /// floats), each added to <paramref name="created"/> for the caller to dispose if a later part fails.</summary>
    public static FoldedConv Read(BinaryReader reader, bool channelsLast, Tensor file, Device device, List<Tensor> created)
    {
        long stride = reader.ReadInt64(), padding = reader.ReadInt64(), dilation = reader.ReadInt64();
        var weight = ReadTensor(reader, channelsLast, file, device, created);
        var bias = ReadTensor(reader, false, file, device, created);
        return new FoldedConv(weight, bias, stride, padding, dilation);
    }

    private static unsafe void WriteTensor(BinaryWriter writer, Tensor t)
    {
        writer.Write(t.shape.Length);
        foreach (long d in t.shape) writer.Write(d);
        while (writer.BaseStream.Position % sizeof(float) != 0) writer.Write((byte)0);   // data at whole floats: mapped in place
        writer.Write(new ReadOnlySpan<byte>(Kernels.TensorMemory.Floats(t), checked((int)(t.numel() * sizeof(float)))));
    }

    /// <summary>A tensor of the file on <paramref name="device"/>; <paramref name="nhwc"/>: stored as [O, kh, kw, I], returned as the
    /// logical [O, I, kh, kw] with those (channels-last) strides.</summary>
    private static Tensor ReadTensor(BinaryReader reader, bool nhwc, Tensor file, Device device, List<Tensor> created)
    {
        int rank = reader.ReadInt32();
        if (rank is < 1 or > 4 || (nhwc && rank != 4)) throw new InvalidDataException($"a folded tensor of rank {rank}");
        var shape = new long[rank];
        for (int i = 0; i < rank; i++) shape[i] = reader.ReadInt64();
        var stream = reader.BaseStream;
        stream.Position = (stream.Position + sizeof(float) - 1) / sizeof(float) * sizeof(float);
        long start = stream.Position / sizeof(float), count = shape.Aggregate(1L, (a, d) => checked(a * d));
        if (shape.Any(d => d is < 1 or > 1 << 16) || start + count > file.shape[0])
            throw new InvalidDataException($"a folded tensor of shape [{string.Join(", ", shape)}] in what remains of the file");
        stream.Position += count * sizeof(float);
        using var scope = NewDisposeScope();
        var stored = file.narrow(0, start, count).view(shape);
        var result = nhwc ? stored.permute(0, 3, 1, 2) : stored;
        if (device.type != TorchSharp.DeviceType.CPU) result = result.to(device);
        created.Add(result.MoveToOuterDisposeScope());
        return result;
    }

    public void Dispose()
    {
        _weight.Dispose();
        _bias.Dispose();
        _convolution.Dispose();
    }
}

/// <summary>A residual block of folded convolutions; <see cref="Apply"/> returns its output before the final ReLU.</summary>
internal sealed record FoldedBlock(FoldedConv First, FoldedConv Second, FoldedConv? Third, FoldedConv? Shortcut) : IDisposable
{
    public void Write(BinaryWriter writer, bool channelsLast)
    {
        writer.Write(Third is not null);
        writer.Write(Shortcut is not null);
        foreach (var conv in new[] { First, Second, Third, Shortcut }) conv?.Write(writer, channelsLast);
    }

    public static FoldedBlock Read(BinaryReader reader, bool channelsLast, Tensor file, Device device, List<Tensor> created)
    {
        bool hasThird = reader.ReadBoolean(), hasShortcut = reader.ReadBoolean();
        var first = FoldedConv.Read(reader, channelsLast, file, device, created);
        var second = FoldedConv.Read(reader, channelsLast, file, device, created);
        return new FoldedBlock(first, second, hasThird ? FoldedConv.Read(reader, channelsLast, file, device, created) : null,
            hasShortcut ? FoldedConv.Read(reader, channelsLast, file, device, created) : null);
    }

    /// <summary>The same block in <paramref name="type"/>.</summary>
    public FoldedBlock ConvertedTo(ScalarType type, bool channelsLast) => new(First.ConvertedTo(type, channelsLast),
        Second.ConvertedTo(type, channelsLast), Third?.ConvertedTo(type, channelsLast), Shortcut?.ConvertedTo(type, channelsLast));

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

    /// <summary>A copy with every weight and bias in <paramref name="type"/> (bf16: the input must be bf16 too).</summary>
    public FoldedResNet ConvertedTo(ScalarType type) =>
        new(_stem.ConvertedTo(type, _channelsLast), _blocks.Select(b => b.ConvertedTo(type, _channelsLast)).ToArray(), _channelsLast);

    /// <summary>Same contract as <see cref="ResNet.ExtractCandidates"/>.</summary>
    public Tensor[] ExtractCandidates(Tensor input, IReadOnlyList<int> ids)
    {
        using var scope = NewDisposeScope();
        var features = ResNet.WalkCandidates(_channelsLast ? ToChannelsLast(input) : input, ids, _stem.Apply,
            (id, x) => _blocks[id - 1].Apply(x));
        return features.Select(f => f.contiguous().MoveToOuterDisposeScope()).ToArray();
    }

    /// <summary>
    /// Saves this form as it is in memory (geometry, then each tensor's bytes at a whole-float offset), so that
    /// <see cref="Read"/> builds it without the module form, its random initialisation or the folding: most of a cold
    /// start's backbone time.
    /// </summary>
    public void Write(Stream stream)
    {
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(_channelsLast);
        _stem.Write(writer, _channelsLast);
        writer.Write(_blocks.Length);
        foreach (var block in _blocks) block.Write(writer, _channelsLast);
    }

    /// <summary>
    /// Reads the file <see cref="Write"/> wrote, onto <paramref name="device"/>: on the CPU the tensors are views of the
    /// file mapped into memory (copy-on-write, pages read on first use), so nothing is copied or zeroed beforehand.
    /// <see cref="InvalidDataException"/> or <see cref="EndOfStreamException"/> for anything else.
    /// </summary>
    public static FoldedResNet Read(string path, Device device)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096);
        using var reader = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        if (reader.ReadString() != Magic) throw new InvalidDataException("not a folded ResNet");
        using var file = from_file(path, shared: false, size: stream.Length / sizeof(float), dtype: ScalarType.Float32);
        var created = new List<Tensor>();
        try
        {
            bool channelsLast = reader.ReadBoolean();
            var stem = FoldedConv.Read(reader, channelsLast, file, device, created);
            int count = reader.ReadInt32();
            if (count is < 1 or > 1000) throw new InvalidDataException($"a folded ResNet of {count} blocks");
            var blocks = new FoldedBlock[count];
            for (int i = 0; i < count; i++) blocks[i] = FoldedBlock.Read(reader, channelsLast, file, device, created);
            if (stream.Position != stream.Length) throw new InvalidDataException("data after the last block");
            return new FoldedResNet(stem, blocks, channelsLast);
        }
        catch
        {
            foreach (var t in created) t.Dispose();
            throw;
        }
    }

    private const string Magic = "hpf folded resnet 2";

    /// <summary>The same logical [B, C, H, W] tensor with NHWC strides (libtorch's channels_last memory format).</summary>
    internal static Tensor ToChannelsLast(Tensor t) => t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    public void Dispose()
    {
        _stem.Dispose();
        foreach (var b in _blocks) b.Dispose();
    }
}
