using static TorchSharp.torch;

namespace GrowLength.Training.Distributed;

/// <summary>Host-memory views of flat fp32 tensors, for the parts of the exchange that work on bytes.</summary>
public static class HostTensors
{
    /// <summary>Runs <paramref name="action"/> on the elements of a flat fp32 tensor as a span; a tensor off the CPU is
    /// copied to host memory and, when <paramref name="writeBack"/>, copied back afterwards.</summary>
    public static void WithSpan(Tensor flat, bool writeBack, SpanAction action)
    {
        using var host = new HostGradientBuffer(flat);
        host.Refresh();
        action(host.Span(0, checked((int)host.Count)));
        if (writeBack) host.WriteBack();
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
