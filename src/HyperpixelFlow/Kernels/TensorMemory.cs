using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

using HyperpixelFlow.Matching;

namespace HyperpixelFlow.Kernels;

/// <summary>Direct access to a CPU tensor's memory for the fused kernels (TorchSharp exposes only copies).</summary>
internal static partial class TensorMemory
{
    [LibraryImport("LibTorchSharp")]
    private static partial IntPtr THSTensor_data(IntPtr handle);

    /// <summary>Address of the first element of a contiguous float32 CPU tensor; valid while the tensor lives.</summary>
    public static unsafe float* Floats(Tensor t)
    {
        if (t.dtype != ScalarType.Float32 || !t.is_contiguous() || t.device_type != DeviceType.CPU)
            throw new ArgumentException("expected a contiguous float32 CPU tensor");
        var data = THSTensor_data(t.Handle);
        if (data == IntPtr.Zero) throw new InvalidOperationException("tensor has no data");
        return (float*)data;
    }
}
