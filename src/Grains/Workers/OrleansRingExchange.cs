using System.Runtime.InteropServices;
using GrowLength.Training.Distributed;
using static TorchSharp.torch;

namespace GrowLength.Grains.Workers;

/// <summary>Ring all-reduce over grain calls among one epoch's members: reduce-scatter then all-gather
/// (<see cref="RingPlan"/>), each segment in byte[] chunks of a few MB, pipelined (a chunk moves on as soon as it arrived
/// and was added). Runs on the training thread. Every wait is bounded by <see cref="Deadline"/>, and a send that fails
/// (the neighbour's silo is gone) fails the exchange at once rather than at the deadline.</summary>
internal sealed class OrleansRingExchange(IGrainFactory grains, string runId, Membership members, int rank, int chunkBytes, ChunkInbox inbox,
    Failpoint? failpoint = null)
    : IGradientExchange
{
    private readonly IWorkerGrain right = grains.GetGrain<IWorkerGrain>(WorkerKeys.For(runId, members.Workers[(rank + 1) % members.WorldSize]));

    public int WorldSize => members.WorldSize;

    /// <summary>The longest any one wait of an exchange may take.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(60);

    public void SumInPlace(long step, Tensor gradients, CancellationToken cancel) =>
        HostTensors.WithSpan(gradients, writeBack: true, buffer => Ring(step, buffer, cancel));

    private void Ring(long step, Span<float> buffer, CancellationToken cancel)
    {
        var plan = new RingPlan(buffer.Length, WorldSize, chunkBytes / sizeof(float));
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        Exception? sendFailure = null;
        var sends = new List<Task>();
        void Sent(Task send) => sends.Add(send.ContinueWith(t =>
        {
            if (t.Exception is { } e)
            {
                Interlocked.CompareExchange(ref sendFailure, e.GetBaseException(), null);
                failed.Cancel();
            }
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default));
        try
        {
            int first = plan.SendSegment(rank, 0);
            for (int c = 0; c < plan.Chunks(first); c++)
                Sent(Send(step, 0, first, c, buffer, plan));
            for (int round = 0; round < plan.Rounds; round++)
            {
                int segment = plan.ReceiveSegment(rank, round);
                for (int c = 0; c < plan.Chunks(segment); c++)
                {
                    var data = inbox.Take(members.Epoch, step, round, segment, c, Deadline, failed.Token);
                    var (start, length) = plan.Chunk(segment, c);
                    if (data.Length != length * sizeof(float))
                        throw new InvalidOperationException($"gradient chunk (step {step}, round {round}, segment {segment}, chunk {c}) has {data.Length} bytes, expected {length * sizeof(float)}: the workers' models differ in size");
                    var mine = buffer.Slice(checked((int)start), length);
                    var theirs = MemoryMarshal.Cast<byte, float>(data);
                    failpoint?.Reached(step, plan.IsReduceRound(round) ? FailpointPhase.Reduce : FailpointPhase.Gather);
                    if (plan.IsReduceRound(round)) GradientMath.AddInto(mine, theirs);
                    else theirs.CopyTo(mine);
                    // The segment received in round k is the one sent in round k + 1.
                    if (round + 1 < plan.Rounds) Sent(Send(step, round + 1, segment, c, buffer, plan));
                }
            }
            if (!Task.WhenAll(sends).Wait(Deadline, failed.Token))
                throw new TimeoutException($"the gradient chunks of step {step} were not delivered within {Deadline.TotalSeconds:F0} s");
        }
        catch (OperationCanceledException) when (sendFailure is not null && !cancel.IsCancellationRequested)
        {
            throw SendFailed(step, sendFailure);
        }
        if (sendFailure is not null) throw SendFailed(step, sendFailure);
    }

    // Orleans' messages carry inner exceptions and stack lines; the run's events and status show the first line only.
    private RingExchangeException SendFailed(long step, Exception failure) =>
        new($"sending a gradient chunk of step {step} to the worker of rank {(rank + 1) % WorldSize} failed: {failure.Message.Split('\n')[0].Trim()}", failure);

    private Task Send(long step, int round, int segment, int chunk, Span<float> buffer, RingPlan plan)
    {
        var (start, length) = plan.Chunk(segment, chunk);
        var bytes = MemoryMarshal.AsBytes(buffer.Slice(checked((int)start), length)).ToArray();
        return right.ReceiveChunk(new GradientChunk(members.Epoch, step, round, segment, chunk, bytes));
    }
}
