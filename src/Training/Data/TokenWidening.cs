using System.Runtime.Intrinsics;

namespace GrowLength.Training.Data;

/// <summary>Bulk conversion of stored token ids to the int/long ids tensors take, vectorised because it runs every step.</summary>
internal static class TokenWidening
{
    public static void Widen(ReadOnlySpan<ushort> source, Span<int> destination)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + Vector256<ushort>.Count <= source.Length; i += Vector256<ushort>.Count)
            {
                var (lower, upper) = Vector256.Widen(Vector256.Create(source.Slice(i)));
                lower.AsInt32().CopyTo(destination.Slice(i));
                upper.AsInt32().CopyTo(destination.Slice(i + Vector256<uint>.Count));
            }
        }
        for (; i < source.Length; i++)
        {
            destination[i] = source[i];
        }
    }

    public static void Widen(ReadOnlySpan<ushort> source, Span<long> destination)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + Vector256<ushort>.Count <= source.Length; i += Vector256<ushort>.Count)
            {
                var (lower, upper) = Vector256.Widen(Vector256.Create(source.Slice(i)));
                var (a, b) = Vector256.Widen(lower);
                var (c, d) = Vector256.Widen(upper);
                a.AsInt64().CopyTo(destination.Slice(i));
                b.AsInt64().CopyTo(destination.Slice(i + 4));
                c.AsInt64().CopyTo(destination.Slice(i + 8));
                d.AsInt64().CopyTo(destination.Slice(i + 12));
            }
        }
        for (; i < source.Length; i++)
        {
            destination[i] = source[i];
        }
    }

    public static void Widen(ReadOnlySpan<int> source, Span<long> destination)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + Vector256<int>.Count <= source.Length; i += Vector256<int>.Count)
            {
                var (lower, upper) = Vector256.Widen(Vector256.Create(source.Slice(i)));
                lower.CopyTo(destination.Slice(i));
                upper.CopyTo(destination.Slice(i + Vector256<long>.Count));
            }
        }
        for (; i < source.Length; i++)
        {
            destination[i] = source[i];
        }
    }
}
