using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace GrowLength.Training.Distributed;

/// <summary>A flat fp32 tensor's elements as host memory that another thread may work on while the tensor's owner goes on.</summary>
/// <remarks>A contiguous CPU tensor is used in place (no copy: <see cref="InPlace"/>), so the exchange can read and write a
/// bucket while backward still fills the others. Any other tensor (on a GPU) gets a host copy taken by <see cref="Refresh"/>
/// once backward is done and written back by <see cref="WriteBack"/>; it cannot overlap with backward.</remarks>
public sealed unsafe class HostGradientBuffer : IDisposable
{
    private readonly Tensor tensor;
    private readonly Tensor? host;
    private readonly float* data;

    public HostGradientBuffer(Tensor flat)
    {
        if (flat.dtype != ScalarType.Float32 || flat.dim() != 1)
            throw new ArgumentException($"expected a flat fp32 tensor, got {flat.dtype} with {flat.dim()} dimensions");
        tensor = flat;
        Count = flat.numel();
        InPlace = flat.device_type == DeviceType.CPU && flat.is_contiguous();
        if (!InPlace) host = empty(Count, ScalarType.Float32, CPU);
        data = (float*)Unsafe(InPlace ? flat : host!);
    }

    /// <summary>True when the spans are the tensor's own memory.</summary>
    public bool InPlace { get; }

    /// <summary>Elements.</summary>
    public long Count { get; }

    /// <summary>Elements [start, start + length) as a span; valid while the tensor lives.</summary>
    public Span<float> Span(long start, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + length, Count);
        return new Span<float>(data + start, length);
    }

    /// <summary>Copies the tensor into the host copy (nothing to do in place).</summary>
    public void Refresh()
    {
        if (host is not null) host.copy_(tensor);
    }

    /// <summary>Copies the host copy back into the tensor (nothing to do in place).</summary>
    public void WriteBack()
    {
        if (host is not null) tensor.copy_(host);
    }

    public void Dispose() => host?.Dispose();

    private static void* Unsafe(Tensor t) => System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));
}
