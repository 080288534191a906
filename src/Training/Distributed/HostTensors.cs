using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace GrowLength.Training.Distributed;

/// <summary>Host-memory views of flat fp32 tensors, for the parts of the exchange that work on bytes.</summary>
public static class HostTensors
{
    /// <summary>Runs <paramref name="action"/> on the elements of a flat fp32 tensor as a span; a tensor off the CPU is
    /// copied to host memory and, when <paramref name="writeBack"/>, copied back afterwards.</summary>
    public static void WithSpan(Tensor flat, bool writeBack, SpanAction action)
    {
        if (flat.dtype != ScalarType.Float32 || flat.dim() != 1)
            throw new ArgumentException($"expected a flat fp32 tensor, got {flat.dtype} with {flat.dim()} dimensions");
        if (flat.device_type == DeviceType.CPU && flat.is_contiguous())
        {
            action(MemoryMarshal.Cast<byte, float>(flat.bytes));
            return;
        }
        using var host = flat.to(CPU).contiguous();
        action(MemoryMarshal.Cast<byte, float>(host.bytes));
        if (writeBack) flat.copy_(host);
    }

    /// <summary>Checksum of a flat fp32 tensor's exact bits (see <see cref="GradientMath.Checksum"/>).</summary>
    public static ulong Checksum(Tensor flat)
    {
        ulong sum = 0;
        WithSpan(flat, writeBack: false, span => sum = GradientMath.Checksum(span));
        return sum;
    }

    /// <summary>An action over a span of floats.</summary>
    public delegate void SpanAction(Span<float> values);
}
