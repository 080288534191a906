using System.Diagnostics;
using System.Net;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using GrowLength.Training.Distributed;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace GrowLength.Grains.Workers;

/// <summary>Ring all-reduce among one epoch's members: per gradient bucket, reduce-scatter then all-gather
/// (<see cref="RingPlan"/>), each segment in chunks of a few MB, pipelined (a chunk moves on as soon as it arrived and was
/// added). A step's buckets go on a thread of the step's own, each started as soon as backward has finished it, so the
/// exchange runs beside the backward pass; the thread moves every started bucket on as far as the chunks that are here take
/// it. Chunks for a neighbour on another silo go over the data plane
/// (<see cref="SocketChunkSender"/> to its silo's <see cref="GradientListener"/>), straight from the gradient buffer; for a
/// neighbour on this silo, or where the data plane is off, they go as grain calls. Every wait is bounded by
/// <see cref="Deadline"/>, and a send that fails (the neighbour's silo is gone) fails the exchange at once rather than at
/// the deadline.</summary>
internal sealed class OrleansRingExchange(IGrainFactory grains, string runId, Membership members, int rank, int chunkBytes, ChunkInbox inbox,
    ExchangeSettings settings, Failpoint? failpoint = null, ILogger? logger = null)
    : IGradientExchange, IDisposable
{
    private readonly IWorkerGrain right = grains.GetGrain<IWorkerGrain>(WorkerKeys.For(runId, members.Workers[(rank + 1) % members.WorldSize]));
    // Fields rather than captured parameters: the step's exchange (a nested class) reads them.
    private readonly Membership members = members;
    private readonly int rank = rank;
    private readonly int chunkBytes = chunkBytes;
    private readonly ChunkInbox inbox = inbox;
    private readonly GradientChunkPool? pool = settings.Pool;
    private readonly bool interleave = settings.Interleave;
    private readonly DataPlaneAccess? dataPlane = settings.DataPlane;
    private readonly Failpoint? failpoint = failpoint;
    // The data-plane connection to the right neighbour for this epoch; made on the first step that needs it, dropped when a
    // send on it fails (the next step connects again). Used only by the step's exchange thread, one step at a time.
    private SocketChunkSender? socket;
    private bool neighbourTakesGrainCalls = settings.DataPlane is not { Enabled: true };

    public int WorldSize => members.WorldSize;

    /// <summary>The longest any one wait of an exchange may take.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(60);

    public IStepExchange Begin(long step, Tensor gradients, IReadOnlyList<GradientBucket> buckets, CancellationToken cancel) =>
        new RingStep(this, step, buckets, new HostGradientBuffer(gradients), cancel);

    public void Dispose() => socket?.Dispose();

    /// <summary>Finds out how the right neighbour takes chunks (once an epoch) and connects to its data plane when it is on
    /// another silo. Any failure is the step's: the neighbour or its silo is gone.</summary>
    private void EnsureTransport()
    {
        if (neighbourTakesGrainCalls) return;
        if (socket is not null)
        {
            socket.Timeout = Deadline;
            return;
        }
        var rightKey = WorkerKeys.For(runId, members.Workers[(rank + 1) % members.WorldSize]);
        ExchangeEndpoint endpoint;
        try
        {
            var asked = right.ExchangeEndpoint();
            if (!asked.Wait(Deadline)) throw new TimeoutException($"no answer within {Deadline.TotalSeconds:F0} s");
            endpoint = asked.Result;
        }
        catch (Exception e)
        {
            var cause = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerExceptions[0] : e;
            throw new RingExchangeException($"asking the worker of rank {(rank + 1) % WorldSize} where it takes gradient chunks failed: {cause.Message.Split('\n')[0].Trim()}", cause);
        }
        if (endpoint.Silo == dataPlane!.Silo || endpoint.Port == 0)
        {
            // Same silo: a grain call passes the pooled array itself. No listener there: grain calls are all it takes.
            neighbourTakesGrainCalls = true;
            return;
        }
        var address = new IPEndPoint(IPAddress.Parse(endpoint.Host), endpoint.Port);
        try
        {
            socket = SocketChunkSender.Connect(address, rightKey, endpoint.Token, dataPlane.Tls, Deadline);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException)
        {
            throw new RingExchangeException($"connecting to the gradient data plane of rank {(rank + 1) % WorldSize} at {address} failed: {e.Message}", e);
        }
        logger?.LogInformation("Rank {Rank} of {Run} sends gradient chunks to rank {Right} over the data plane at {Address}{Tls}",
            rank, runId, (rank + 1) % WorldSize, address, dataPlane.Tls is null ? "" : " (mutual TLS)");
    }

    // Orleans' messages carry inner exceptions and stack lines; the run's events and status show the first line only.
    private RingExchangeException SendFailed(long step, Exception failure) =>
        new($"sending a gradient chunk of step {step} to the worker of rank {(rank + 1) % WorldSize} failed: {failure.Message.Split('\n')[0].Trim()}", failure);

    private Task Send(long step, int bucket, int round, int segment, int chunk, ReadOnlySpan<float> values)
    {
        var source = MemoryMarshal.AsBytes(values);
        if (socket is { } connection)
        {
            try
            {
                connection.Send(members.Epoch, step, bucket, round, segment, chunk, source);
                return Task.CompletedTask;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                socket = null;
                connection.Dispose();
                return Task.FromException(new IOException($"the data-plane connection to {connection.Peer} failed: {e.Message}", e));
            }
        }
        byte[] bytes;
        if (pool is null) bytes = source.ToArray();
        else
        {
            bytes = pool.Rent(source.Length);
            source.CopyTo(bytes);
        }
        return right.ReceiveChunk(new GradientChunk(members.Epoch, step, bucket, round, segment, chunk, bytes));
    }

    /// <summary>One step's exchange: its thread takes the buckets in order, each once it is ready.</summary>
    private sealed class RingStep : IStepExchange
    {
        private readonly OrleansRingExchange ring;
        private readonly long step;
        private readonly HostGradientBuffer buffer;
        private readonly ManualResetEventSlim[] ready;
        private readonly CancellationTokenSource failed;
        private readonly List<Task> sends = [];
        private readonly Task work;
        private Exception? sendFailure;
        private long workTicks;

        public RingStep(OrleansRingExchange ring, long step, IReadOnlyList<GradientBucket> buckets, HostGradientBuffer buffer, CancellationToken cancel)
        {
            for (int i = 0; i < buckets.Count; i++)
                if (buckets[i].Index != i) throw new ArgumentException($"bucket {i} has index {buckets[i].Index}", nameof(buckets));
            this.ring = ring;
            this.step = step;
            this.buffer = buffer;
            ready = [.. buckets.Select(_ => new ManualResetEventSlim())];
            failed = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            work = Task.Factory.StartNew(() => Run(buckets, cancel), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        public double WorkSeconds => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref workTicks)).TotalSeconds;

        public void Ready(int bucket)
        {
            // A copy on the host is taken only when backward is done (Complete): nothing can start before.
            if (!buffer.InPlace || (uint)bucket >= (uint)ready.Length) return;
            ready[bucket].Set();
            ring.inbox.Wake();
        }

        public void Complete()
        {
            buffer.Refresh();
            foreach (var bucket in ready) bucket.Set();
            ring.inbox.Wake();
            try
            {
                // Every wait inside is bounded by the deadline or ends with the step's token.
                work.Wait(CancellationToken.None);
            }
            catch (AggregateException e) when (e.InnerExceptions.Count == 1)
            {
                ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
            }
            buffer.WriteBack();
        }

        public void Dispose()
        {
            if (!work.IsCompleted)
            {
                // Backward failed before Complete: the exchange is given up with the step.
                failed.Cancel();
                try { work.Wait(CancellationToken.None); }
                catch (AggregateException) { }
            }
            failed.Dispose();
            foreach (var bucket in ready) bucket.Dispose();
            buffer.Dispose();
        }

        /// <summary>Where a bucket's ring stands: the round and chunk it waits for next.</summary>
        private sealed class Progress(GradientBucket bucket, RingPlan plan)
        {
            public GradientBucket Bucket { get; } = bucket;
            public RingPlan Plan { get; } = plan;
            public int Round { get; set; }
            public int Chunk { get; set; }
            public bool Done => Round == Plan.Rounds;
        }

        private void Run(IReadOnlyList<GradientBucket> buckets, CancellationToken cancel)
        {
            try
            {
                ring.EnsureTransport();
                // One thread for all the step's buckets, each as far as the chunks that are here take it: a bucket waiting
                // for its neighbour's chunk does not hold up the next one, whose chunk may be here already (with two
                // workers, the next bucket's sum goes out while this one's comes back).
                var started = new Progress?[buckets.Count];
                int finished = 0;
                long idleSince = Stopwatch.GetTimestamp();
                while (finished < buckets.Count)
                {
                    long start = Stopwatch.GetTimestamp();
                    ring.inbox.Arrivals.Reset();
                    bool busy = false, progressed = false;
                    for (int k = 0; k < buckets.Count; k++)
                    {
                        if (started[k] is null)
                        {
                            if (!ready[k].IsSet) continue;
                            // Round 0 needs nothing from the neighbours: it goes out as soon as backward has finished the bucket.
                            started[k] = new Progress(buckets[k], Plan(buckets[k]));
                            SendFirst(started[k]!);
                            progressed = true;
                        }
                        var bucket = started[k]!;
                        if (bucket.Done) continue;
                        // One at a time (not interleaved): later buckets only send their round 0 until this one is done.
                        if (busy && !ring.interleave) continue;
                        busy = true;
                        while (!bucket.Done && TryApplyNext(bucket))
                        {
                            progressed = true;
                            if (bucket.Done) finished++;
                        }
                    }
                    if (!progressed)
                    {
                        // Nothing here yet. Waiting for a neighbour's chunk is bounded by the deadline (since the last
                        // chunk); waiting for backward to finish a bucket is not (backward takes what it takes).
                        var left = busy ? ring.Deadline - Stopwatch.GetElapsedTime(idleSince) : Timeout.InfiniteTimeSpan;
                        if ((busy && left <= TimeSpan.Zero) || !ring.inbox.Arrivals.Wait(left, failed.Token))
                            throw Missing(started.First(b => b is { Done: false })!);
                    }
                    else idleSince = Stopwatch.GetTimestamp();
                    if (busy || progressed) Interlocked.Add(ref workTicks, Stopwatch.GetTimestamp() - start);
                }
                long wait = Stopwatch.GetTimestamp();
                Task[] pending;
                lock (sends) pending = [.. sends];
                if (!Task.WhenAll(pending).Wait(ring.Deadline, failed.Token))
                    throw new TimeoutException($"the gradient chunks of step {step} were not delivered within {ring.Deadline.TotalSeconds:F0} s");
                Interlocked.Add(ref workTicks, Stopwatch.GetTimestamp() - wait);
            }
            catch (OperationCanceledException) when (Volatile.Read(ref sendFailure) is { } failure && !cancel.IsCancellationRequested)
            {
                throw ring.SendFailed(step, failure);
            }
            if (Volatile.Read(ref sendFailure) is { } late) throw ring.SendFailed(step, late);
        }

        private RingPlan Plan(GradientBucket bucket) => new(bucket.Length, ring.WorldSize, ring.chunkBytes / sizeof(float));

        private TimeoutException Missing(Progress bucket) =>
            new($"gradient chunk (step {step}, bucket {bucket.Bucket.Index}, round {bucket.Round}, segment {bucket.Plan.ReceiveSegment(ring.rank, bucket.Round)}, chunk {bucket.Chunk}) did not arrive within {ring.Deadline.TotalSeconds:F0} s");

        /// <summary>Round 0's sends of a bucket: this rank's own segment, as backward left it.</summary>
        private void SendFirst(Progress bucket)
        {
            int first = bucket.Plan.SendSegment(ring.rank, 0);
            for (int c = 0; c < bucket.Plan.Chunks(first); c++)
                Sent(Send(bucket.Bucket, 0, first, c, bucket.Plan));
        }

        /// <summary>Adds (a reduce round) or copies (a gather round) the bucket's next chunk if it is here, and sends it on
        /// in the next round; false when it has not arrived.</summary>
        private bool TryApplyNext(Progress bucket)
        {
            var (plan, round, c) = (bucket.Plan, bucket.Round, bucket.Chunk);
            int segment = plan.ReceiveSegment(ring.rank, round);
            if (plan.Chunks(segment) == 0)
            {
                // A bucket of fewer elements than workers has empty segments: nothing comes, and nothing goes on.
                (bucket.Round, bucket.Chunk) = (round + 1, 0);
                return true;
            }
            if (!ring.inbox.TryTake(ring.members.Epoch, step, bucket.Bucket.Index, round, segment, c, out var data)) return false;
            var (start, length) = plan.Chunk(segment, c);
            if (data.Length != length * sizeof(float))
                throw new InvalidOperationException($"gradient chunk (step {step}, bucket {bucket.Bucket.Index}, round {round}, segment {segment}, chunk {c}) has {data.Length} bytes, expected {length * sizeof(float)}: the workers' models differ in size");
            var mine = buffer.Span(bucket.Bucket.Start + start, length);
            var theirs = MemoryMarshal.Cast<byte, float>(data);
            ring.failpoint?.Reached(step, plan.IsReduceRound(round) ? FailpointPhase.Reduce : FailpointPhase.Gather);
            if (plan.IsReduceRound(round)) GradientMath.AddInto(mine, theirs);
            else theirs.CopyTo(mine);
            ring.pool?.Return(data);
            // The segment received in round k is the one sent in round k + 1.
            if (round + 1 < plan.Rounds) Sent(Send(bucket.Bucket, round + 1, segment, c, plan));
            if (c + 1 < plan.Chunks(segment)) bucket.Chunk = c + 1;
            else (bucket.Round, bucket.Chunk) = (round + 1, 0);
            return true;
        }

        private Task Send(GradientBucket bucket, int round, int segment, int chunk, RingPlan plan)
        {
            var (start, length) = plan.Chunk(segment, chunk);
            return ring.Send(step, bucket.Index, round, segment, chunk, buffer.Span(bucket.Start + start, length));
        }

        private void Sent(Task send)
        {
            var watched = send.ContinueWith(t =>
            {
                if (t.Exception is { } e)
                {
                    Interlocked.CompareExchange(ref sendFailure, e.GetBaseException(), null);
                    // A send can fail after the step already ended another way (and disposed its token).
                    try { failed.Cancel(); }
                    catch (ObjectDisposedException) { }
                }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            lock (sends) sends.Add(watched);
        }
    }
}
