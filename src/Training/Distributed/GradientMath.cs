using System.Numerics;
using System.Runtime.InteropServices;

namespace GrowLength.Training.Distributed;

/// <summary>The arithmetic of the gradient exchange on host memory: chunk sums and the per-step parameter checksum.</summary>
public static class GradientMath
{
    /// <summary>destination[i] += source[i], vectorised. The exchange's only arithmetic: StepEngine already scaled each
    /// worker's gradient by 1 / (the step's tokens over all workers), so the token-weighted average is a plain sum.</summary>
    public static void AddInto(Span<float> destination, ReadOnlySpan<float> source)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"chunk lengths differ: {destination.Length} and {source.Length} floats");
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var d = MemoryMarshal.Cast<float, Vector<float>>(destination);
            var s = MemoryMarshal.Cast<float, Vector<float>>(source);
            for (int v = 0; v < d.Length; v++) d[v] += s[v];
            i = d.Length * Vector<float>.Count;
        }
        for (; i < destination.Length; i++) destination[i] += source[i];
    }

    /// <summary>A 64-bit checksum of the exact bits of <paramref name="values"/>: equal parameters give equal sums,
    /// and a single flipped bit anywhere changes it. Four independent FNV-style lanes keep it near memory speed.</summary>
    public static ulong Checksum(ReadOnlySpan<float> values)
    {
        const ulong prime = 0x100000001B3;
        var words = MemoryMarshal.Cast<float, uint>(values);
        ulong a = 0xCBF29CE484222325, b = a ^ 1, c = a ^ 2, d = a ^ 3;
        int i = 0;
        for (; i + 4 <= words.Length; i += 4)
        {
            a = (a ^ words[i]) * prime;
            b = (b ^ words[i + 1]) * prime;
            c = (c ^ words[i + 2]) * prime;
            d = (d ^ words[i + 3]) * prime;
        }
        for (; i < words.Length; i++) a = (a ^ words[i]) * prime;
        return ((a * 31 + b) * 31 + c) * 31 + d ^ (ulong)values.Length;
    }
}
