using System.Collections.Concurrent;

namespace GrowLength.Grains.Workers;

/// <summary>Gradient chunks that arrived for a training loop, waiting for its thread to take them; chunks may come
/// before the loop asks for them (a faster neighbour), so each key gets its slot on first touch from either side.</summary>
internal sealed class ChunkInbox(long epoch)
{
    private readonly ConcurrentDictionary<(long Step, int Round, int Segment, int Chunk), TaskCompletionSource<byte[]>> slots = new();

    /// <summary>Called from a grain turn.</summary>
    public void Deliver(GradientChunk chunk)
    {
        if (chunk.Epoch != epoch)
            throw new InvalidOperationException($"gradient chunk of membership epoch {chunk.Epoch} reached a worker of epoch {epoch}");
        if (!Slot((chunk.Step, chunk.Round, chunk.Segment, chunk.Chunk)).TrySetResult(chunk.Data))
            throw new InvalidOperationException($"gradient chunk (step {chunk.Step}, round {chunk.Round}, segment {chunk.Segment}, chunk {chunk.Chunk}) arrived twice");
    }

    /// <summary>Called from the training thread; blocks it until the chunk is there.</summary>
    public byte[] Take(long step, int round, int segment, int chunk, CancellationToken cancel)
    {
        var key = (step, round, segment, chunk);
        var task = Slot(key).Task;
        task.Wait(cancel);
        slots.TryRemove(key, out _);
        return task.Result;
    }

    private TaskCompletionSource<byte[]> Slot((long, int, int, int) key) =>
        slots.GetOrAdd(key, _ => new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously));
}
