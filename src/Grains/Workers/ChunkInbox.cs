using System.Collections.Concurrent;

namespace GrowLength.Grains.Workers;

/// <summary>Gradient chunks that arrived for a training loop, waiting for its exchange thread to take them. Chunks may
/// come before the loop asks for them (a faster neighbour, even one already in the next epoch), and in any order; chunks
/// of an epoch the loop has left are dropped, as that epoch's step was given up.</summary>
internal sealed class ChunkInbox
{
    private readonly ConcurrentDictionary<(long Epoch, long Step, int Bucket, int Round, int Segment, int Chunk), byte[]> chunks = new();
    private long floor;

    /// <summary>Set whenever a chunk arrives (or <see cref="Wake"/> is called): the exchange thread resets it, takes what
    /// is there, and waits on it only when nothing was. Never disposed: a late sender may still set it.</summary>
    public ManualResetEventSlim Arrivals { get; } = new();

    /// <summary>Called from a grain turn or a data-plane receiver thread.</summary>
    public void Deliver(GradientChunk chunk)
    {
        if (chunk.Epoch < Volatile.Read(ref floor)) return;
        if (!chunks.TryAdd((chunk.Epoch, chunk.Step, chunk.Bucket, chunk.Round, chunk.Segment, chunk.Chunk), chunk.Data))
            throw new InvalidOperationException($"gradient chunk (epoch {chunk.Epoch}, step {chunk.Step}, bucket {chunk.Bucket}, round {chunk.Round}, segment {chunk.Segment}, chunk {chunk.Chunk}) arrived twice");
        Arrivals.Set();
    }

    /// <summary>Takes the chunk if it is here; never blocks.</summary>
    public bool TryTake(long epoch, long step, int bucket, int round, int segment, int chunk, out byte[] data) =>
        chunks.TryRemove((epoch, step, bucket, round, segment, chunk), out data!);

    /// <summary>Wakes the exchange thread for something other than a chunk (backward finished a bucket).</summary>
    public void Wake() => Arrivals.Set();

    /// <summary>The loop moved to <paramref name="epoch"/>: drops what older epochs left and refuses their late chunks.</summary>
    public void Advance(long epoch)
    {
        Volatile.Write(ref floor, epoch);
        foreach (var key in chunks.Keys.Where(k => k.Epoch < epoch)) chunks.TryRemove(key, out _);
    }
}
