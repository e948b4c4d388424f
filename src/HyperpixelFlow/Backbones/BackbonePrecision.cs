using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>The number formats a backbone computes in, and whether this machine runs bf16 natively.</summary>
internal static class BackbonePrecision
{
    /// <summary>32-bit floats: the paper's arithmetic, the default.</summary>
    public const string Fp32 = "fp32";

    /// <summary>bfloat16 weights and activations (8-bit mantissa), features returned as fp32.</summary>
    public const string Bf16 = "bf16";

    /// <summary>Throws <see cref="HyperpixelFlowException"/> unless <paramref name="precision"/> is fp32 or bf16.</summary>
    public static void Validate(string precision)
    {
        if (precision is not (Fp32 or Bf16))
            throw new HyperpixelFlowException($"precision '{precision}' is not {Fp32} or {Bf16}");
    }

    /// <summary>The tensor type of a (validated) precision.</summary>
    internal static ScalarType TypeOf(string precision) => precision == Bf16 ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>
    /// Whether this CPU has bf16 arithmetic (AVX512-BF16 or AMX-BF16, read from the kernel's CPU flags): without it
    /// libtorch emulates bf16, slower than fp32, so bf16 is refused there rather than run slowly.
    /// </summary>
    public static bool CpuHasBFloat16 => CpuFlags.Value.Contains("avx512_bf16") || CpuFlags.Value.Contains("amx_bf16");

    private static readonly Lazy<HashSet<string>> CpuFlags = new(() =>
    {
        const string path = "/proc/cpuinfo";
        if (!File.Exists(path)) return [];
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
        return line is null ? [] : [.. line[(line.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)];
    });

    /// <summary>A clear error when <paramref name="precision"/> cannot run well on <paramref name="device"/>.</summary>
    internal static void Require(string precision, Device device)
    {
        Validate(precision);
        if (precision == Bf16 && device.type == TorchSharp.DeviceType.CPU && !CpuHasBFloat16)
            throw new HyperpixelFlowException("precision bf16 needs a CPU with AVX512-BF16 or AMX (this one has neither: libtorch would " +
                "emulate it, slower than fp32); use fp32");
    }
}
