using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>
/// A convolution (one group; square stride, padding and dilation) whose weight is reordered once into oneDNN's blocked
/// layout for channels-last CPU inputs. libtorch's <c>conv2d</c> hands oneDNN the plain weight, and oneDNN reorders it
/// on every call (for ResNet-18 about the weights' whole size per image, docs/performance-log.md). libtorch's own path
/// for frozen models (<c>mkldnn::_reorder_convolution_weight</c>, <c>mkldnn::_convolution_pointwise</c>) takes the
/// reordered weight; the convolution it runs is the one <c>conv2d</c> runs (same primitive, same layouts, same bits:
/// tested), without the reorder. Those operators live outside the <c>aten</c> namespace, which TorchSharp's script
/// compiler cannot reach, so they are called from a small TorchScript module built here in the serialized form
/// <c>torch.jit.load</c> reads. Other inputs (another device or type, NCHW, no bias, and those <c>conv2d</c> itself
/// keeps from oneDNN: <see cref="Suits"/>) go to <c>conv2d</c>. Does not own the weight and bias.
/// </summary>
internal sealed class PrepackedConvolution(Tensor weight, Tensor? bias, long stride, long padding, long dilation) : IDisposable
{
    private Tensor? _packed;   // made on the first call that takes the prepacked path
    private readonly object _packLock = new();

    /// <summary>conv2d(x, weight, bias) with this geometry.</summary>
    public Tensor Apply(Tensor x)
    {
        if (bias is not null && Suits(x, weight, stride, dilation))
        {
            Tensor packed;
            lock (_packLock) packed = _packed ??= Pack(weight, stride, padding, dilation, x.shape[2], x.shape[3]);
            return Convolve(x, packed, bias, stride, padding, dilation);
        }
        return nn.functional.conv2d(x, weight, bias, strides: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation]);
    }

    /// <summary>Releases the reordered weight (not the weight and bias it was made from).</summary>
    public void Dispose() => _packed?.Dispose();

    private const string Code = """
        class Ops(Module):
          __parameters__ = []
          __buffers__ = []
          training : bool
          def pack(self: __torch__.Ops, weight: Tensor, stride: int, padding: int, dilation: int, height: int, width: int) -> Tensor:
            return ops.mkldnn._reorder_convolution_weight(weight, [padding, padding], [stride, stride], [dilation, dilation], 1, [1, torch.size(weight, 1), height, width])
          def convolve(self: __torch__.Ops, x: Tensor, packed: Tensor, bias: Tensor, stride: int, padding: int, dilation: int) -> Tensor:
            return ops.mkldnn._convolution_pointwise(x, packed, bias, [padding, padding], [stride, stride], [dilation, dilation], 1, "none", annotate(List[Optional[number]], []), None)

        """;

    private static readonly Lazy<jit.ScriptModule?> Module = new(Load);
    private static readonly Lazy<bool> Working = new(SelfTest);

    /// <summary>
    /// Starts loading the operators' module on the thread pool (a few tens of milliseconds, most of it libtorch's script
    /// frontend starting up), so that a backbone being prepared does not wait for it. Only the load: running tensor
    /// operations there would give that thread its own OpenMP team, and the matching measurably slower afterwards.
    /// </summary>
    public static void LoadInBackground()
    {
        if (!Module.IsValueCreated) ThreadPool.QueueUserWorkItem(_ => _ = Module.Value);
    }

    /// <summary>
    /// Whether this libtorch runs the prepacked path (built with oneDNN, operators present): the module loaded and, on
    /// first use, convolved a small tensor. Where it fails, callers use <c>conv2d</c>.
    /// </summary>
    public static bool IsAvailable => Working.Value;

    /// <summary>
    /// Whether <paramref name="x"/> and <paramref name="weight"/> take this path: CPU, float32 (or bfloat16 where the CPU
    /// has bf16 arithmetic), both channels-last, and a convolution that libtorch's conv2d gives to oneDNN (its
    /// <c>use_mkldnn</c> rule in Convolution.cpp: for small float32 inputs, and 1 x 1 kernels on one thread, it runs its
    /// own im2col path instead, whose sums differ; those stay with conv2d).
    /// </summary>
    public static bool Suits(Tensor x, Tensor weight, long stride, long dilation)
    {
        if (x.device.type != TorchSharp.DeviceType.CPU || weight.dtype != x.dtype || !IsChannelsLast(x) || !IsChannelsLast(weight))
            return false;
        bool oneDnn = x.dtype switch
        {
            ScalarType.BFloat16 => BackbonePrecision.CpuHasBFloat16,
            ScalarType.Float32 => (stride != 1 || dilation != 1 || x.shape[0] >= 16 || weight.shape[2] != 1 || weight.shape[3] != 1
                    || get_num_threads() > 1)
                && (weight.shape[2] > 3 && weight.shape[3] > 3 || x.shape[0] > 1 || x.numel() > 20480),
            _ => false,
        };
        return oneDnn && IsAvailable;
    }

    /// <summary>A dense [N, C, H, W] tensor laid out as [N, H, W, C] (libtorch's channels_last; a dimension of size 1 may
    /// have any stride).</summary>
    private static bool IsChannelsLast(Tensor t)
    {
        if (t.dim() != 4) return false;
        var (shape, stride) = (t.shape, t.stride());
        long expected = 1;
        foreach (int d in (ReadOnlySpan<int>)[1, 3, 2, 0])
        {
            if (shape[d] != 1 && stride[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    /// <summary>
    /// The weight [O, I, kh, kw] reordered into the layout oneDNN picks for an input of <paramref name="height"/> x
    /// <paramref name="width"/> (another input size may want another layout: the convolution then reorders, as conv2d
    /// always does). An opaque oneDNN tensor, held outside any dispose scope: the caller disposes it.
    /// </summary>
    public static Tensor Pack(Tensor weight, long stride, long padding, long dilation, long height, long width) =>
        ((Tensor)Module.Value!.invoke("pack", weight, checked((int)stride), checked((int)padding), checked((int)dilation),
            checked((int)height), checked((int)width))).DetachFromDisposeScope();

    /// <summary>conv2d(x, weight, bias) with square stride, padding and dilation, one group, the weight from <see cref="Pack"/>.</summary>
    public static Tensor Convolve(Tensor x, Tensor packed, Tensor bias, long stride, long padding, long dilation) =>
        (Tensor)Module.Value!.invoke("convolve", x, packed, bias, checked((int)stride), checked((int)padding), checked((int)dilation));

    // Any failure to build this optional path (a libtorch without oneDNN or these operators, another archive format)
    // leaves conv2d in charge; CI asserts that the path is available on the supported platform.
    private static jit.ScriptModule? Load()
    {
        try
        {
            return jit.load(Archive(Code));
        }
        catch (Exception)
        {
            return null;
        }
    }

    private static bool SelfTest()
    {
        if (Module.Value is not { } module) return false;
        try
        {
            using var scope = NewDisposeScope();
            var packed = (Tensor)module.invoke("pack", ones(4, 3, 3, 3), 1, 1, 1, 5, 5);
            var y = (Tensor)module.invoke("convolve", ones(1, 3, 5, 5), packed, zeros(4), 1, 1, 1);
            return y.shape.SequenceEqual(new long[] { 1, 4, 5, 5 });
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>
    /// A TorchScript module archive as <c>torch.jit.save</c> lays it out: a zip of stored entries under one folder with
    /// the class source (code/__torch__.py), the module object (data.pkl: an instance of the class whose only attribute
    /// is <c>training</c>), the constants (an empty tuple) and the format version.
    /// </summary>
    private static byte[] Archive(string code)
    {
        using var bytes = new MemoryStream();
        using (var zip = new ZipArchive(bytes, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] content)
            {
                using var entry = zip.CreateEntry("hpf_ops/" + name, CompressionLevel.NoCompression).Open();
                entry.Write(content);
            }
            Add("data.pkl", ModuleObjectPickle("__torch__", "Ops"));
            Add("code/__torch__.py", Encoding.UTF8.GetBytes(code));
            Add("constants.pkl", [Proto, 2, EmptyTuple, Stop]);
            Add("version", Encoding.ASCII.GetBytes("10\n"));   // a current file format: no operator upgraders apply
            Add("byteorder", Encoding.ASCII.GetBytes("little"));
        }
        return bytes.ToArray();
    }

    // Pickle protocol 2 opcodes (Python's pickletools) used by the two records.
    private const byte Proto = 0x80, Global = (byte)'c', EmptyTuple = (byte)')', NewObject = 0x81, EmptyDict = (byte)'}',
        Mark = (byte)'(', BinaryUnicode = (byte)'X', NewFalse = 0x89, SetItems = (byte)'u', Build = (byte)'b', Stop = (byte)'.';

    /// <summary>pickle of module.qualifiedClass() with state {"training": False}.</summary>
    private static byte[] ModuleObjectPickle(string module, string type)
    {
        using var pickle = new MemoryStream();
        pickle.Write([Proto, 2, Global]);
        pickle.Write(Encoding.ASCII.GetBytes($"{module}\n{type}\n"));
        pickle.Write([EmptyTuple, NewObject, EmptyDict, Mark, BinaryUnicode]);
        var key = Encoding.UTF8.GetBytes("training");
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, key.Length);
        pickle.Write(length);
        pickle.Write(key);
        pickle.Write([NewFalse, SetItems, Build, Stop]);
        return pickle.ToArray();
    }
}
