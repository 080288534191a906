using System.Collections.Concurrent;

namespace GrowLength.Grains.Workers;

/// <summary>Gradient chunks that arrived for a training loop, waiting for its thread to take them. Chunks may come before
/// the loop asks for them (a faster neighbour, even one already in the next epoch), so each key gets its slot on first
/// touch from either side; chunks of an epoch the loop has left are dropped, as that epoch's step was given up.</summary>
internal sealed class ChunkInbox
{
    private readonly ConcurrentDictionary<(long Epoch, long Step, int Bucket, int Round, int Segment, int Chunk), TaskCompletionSource<byte[]>> slots = new();
    private long floor;

    /// <summary>Called from a grain turn.</summary>
    public void Deliver(GradientChunk chunk)
    {
        if (chunk.Epoch < Volatile.Read(ref floor)) return;
        if (!Slot((chunk.Epoch, chunk.Step, chunk.Bucket, chunk.Round, chunk.Segment, chunk.Chunk)).TrySetResult(chunk.Data))
            throw new InvalidOperationException($"gradient chunk (epoch {chunk.Epoch}, step {chunk.Step}, bucket {chunk.Bucket}, round {chunk.Round}, segment {chunk.Segment}, chunk {chunk.Chunk}) arrived twice");
    }

    /// <summary>Called from the training thread; blocks it until the chunk is there, <paramref name="deadline"/> passes
    /// (<see cref="TimeoutException"/>) or <paramref name="cancel"/> fires.</summary>
    public byte[] Take(long epoch, long step, int bucket, int round, int segment, int chunk, TimeSpan deadline, CancellationToken cancel)
    {
        var key = (epoch, step, bucket, round, segment, chunk);
        var task = Slot(key).Task;
        if (!task.Wait(deadline, cancel))
            throw new TimeoutException($"gradient chunk (step {step}, bucket {bucket}, round {round}, segment {segment}, chunk {chunk}) did not arrive within {deadline.TotalSeconds:F0} s");
        slots.TryRemove(key, out _);
        return task.Result;
    }

    /// <summary>The loop moved to <paramref name="epoch"/>: drops what older epochs left and refuses their late chunks.</summary>
    public void Advance(long epoch)
    {
        Volatile.Write(ref floor, epoch);
        foreach (var key in slots.Keys.Where(k => k.Epoch < epoch)) slots.TryRemove(key, out _);
    }

    private TaskCompletionSource<byte[]> Slot((long, long, int, int, int, int) key) =>
        slots.GetOrAdd(key, _ => new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously));
}
