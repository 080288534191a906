using System.Runtime.InteropServices;
using GrowLength.Training.Distributed;
using static TorchSharp.torch;

namespace GrowLength.Grains.Workers;

/// <summary>Ring all-reduce over grain calls: reduce-scatter then all-gather (<see cref="RingPlan"/>), each segment in
/// byte[] chunks of a few MB, pipelined (a chunk moves on as soon as it arrived and was added). Runs on the training thread.</summary>
internal sealed class OrleansRingExchange(IGrainFactory grains, string runId, int rank, int worldSize, long epoch, int chunkBytes, ChunkInbox inbox)
    : IGradientExchange
{
    private readonly IWorkerGrain right = grains.GetGrain<IWorkerGrain>(WorkerKeys.For(runId, (rank + 1) % worldSize));

    public int WorldSize => worldSize;

    public void SumInPlace(long step, Tensor gradients, CancellationToken cancel) =>
        HostTensors.WithSpan(gradients, writeBack: true, buffer => Ring(step, buffer, cancel));

    private void Ring(long step, Span<float> buffer, CancellationToken cancel)
    {
        var plan = new RingPlan(buffer.Length, worldSize, chunkBytes / sizeof(float));
        var sends = new List<Task>();
        int first = plan.SendSegment(rank, 0);
        for (int c = 0; c < plan.Chunks(first); c++)
            sends.Add(Send(step, 0, first, c, buffer, plan));
        for (int round = 0; round < plan.Rounds; round++)
        {
            int segment = plan.ReceiveSegment(rank, round);
            for (int c = 0; c < plan.Chunks(segment); c++)
            {
                var data = inbox.Take(step, round, segment, c, cancel);
                var (start, length) = plan.Chunk(segment, c);
                if (data.Length != length * sizeof(float))
                    throw new InvalidOperationException($"gradient chunk (step {step}, round {round}, segment {segment}, chunk {c}) has {data.Length} bytes, expected {length * sizeof(float)}: the workers' models differ in size");
                var mine = buffer.Slice(checked((int)start), length);
                var theirs = MemoryMarshal.Cast<byte, float>(data);
                if (plan.IsReduceRound(round)) GradientMath.AddInto(mine, theirs);
                else theirs.CopyTo(mine);
                // The segment received in round k is the one sent in round k + 1.
                if (round + 1 < plan.Rounds) sends.Add(Send(step, round + 1, segment, c, buffer, plan));
            }
        }
        Task.WhenAll(sends).WaitAsync(cancel).GetAwaiter().GetResult();
    }

    private Task Send(long step, int round, int segment, int chunk, Span<float> buffer, RingPlan plan)
    {
        var (start, length) = plan.Chunk(segment, chunk);
        var bytes = MemoryMarshal.AsBytes(buffer.Slice(checked((int)start), length)).ToArray();
        return right.ReceiveChunk(new GradientChunk(epoch, step, round, segment, chunk, bytes));
    }
}
