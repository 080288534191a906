using System.Collections.Concurrent;

namespace GrowLength.Grains.Workers;

/// <summary>The silo's reusable gradient-chunk arrays, by exact length. A sender rents the array it fills; whoever receives
/// a chunk owns its array and returns it here once the chunk is summed. Between two workers of one silo the array is the
/// sender's own (GradientChunk is immutable, so Orleans passes it without a copy), so a steady ring allocates nothing;
/// across silos the receiver returns the array Orleans deserialized, which its own sends then reuse.</summary>
/// <remarks>Without it every chunk was a fresh multi-megabyte array on the large-object heap (allocated, zeroed, filled,
/// then collected by a full GC). The sender never returns its own array: across silos Orleans serializes it after the call
/// has returned, so only the receiver knows when an array is free.</remarks>
internal sealed class GradientChunkPool
{
    /// <summary>Most arrays kept per length: a ring step needs a few per bucket in flight.</summary>
    private const int KeepPerLength = 16;

    private readonly ConcurrentDictionary<int, ConcurrentBag<byte[]>> free = new();

    /// <summary>The pool shared by every worker of this process.</summary>
    public static GradientChunkPool Shared { get; } = new();

    /// <summary>An array of exactly <paramref name="length"/> bytes with undefined contents.</summary>
    public byte[] Rent(int length) =>
        free.TryGetValue(length, out var bag) && bag.TryTake(out var array) ? array : GC.AllocateUninitializedArray<byte>(length);

    /// <summary>Keeps <paramref name="array"/> for a later <see cref="Rent"/>; its contents are not looked at again by the caller.</summary>
    public void Return(byte[] array)
    {
        var bag = free.GetOrAdd(array.Length, _ => []);
        if (bag.Count < KeepPerLength) bag.Add(array);
    }
}
