using static TorchSharp.torch;

namespace GrowLength.Training.Distributed;

/// <summary>Sums every worker's flat gradient in place, so after a step's exchange all workers hold the same buffer.</summary>
/// <remarks>
/// One seam, several engines: over Orleans messages between worker grains (any cluster, CPU), and NCCL for GPUs
/// (a later engine; it would take the device tensor as is). Gradients from <see cref="Engine.StepEngine"/> are
/// already scaled by 1 / (tokens of the whole step), so a sum is the token-weighted average. The buffer is exchanged in
/// buckets (<see cref="GradientBuckets"/>), each as soon as backward says it is final, so the exchange of the last
/// blocks' gradients runs while backward computes the first blocks' (PyTorch DDP's overlap).
/// </remarks>
public interface IGradientExchange
{
    /// <summary>Workers taking part.</summary>
    int WorldSize { get; }

    /// <summary>Begins step <paramref name="step"/>'s exchange of <paramref name="gradients"/> (flat fp32), bucket by bucket
    /// in <paramref name="buckets"/>' order, each once <see cref="IStepExchange.Ready"/> says so. Every worker passes the
    /// same buckets; the sum of every element is taken in the same order on every run with this many workers.</summary>
    IStepExchange Begin(long step, Tensor gradients, IReadOnlyList<GradientBucket> buckets, CancellationToken cancel);
}

/// <summary>One step's exchange, begun before backward and completed after it.</summary>
public interface IStepExchange : IDisposable
{
    /// <summary>Bucket <paramref name="bucket"/>'s gradients are final on this worker: its exchange may start. Called from
    /// inside the backward pass, so it never throws and never blocks.</summary>
    void Ready(int bucket);

    /// <summary>Marks every bucket ready and blocks until the whole buffer is summed over the workers; rethrows the
    /// exchange's failure as it was thrown (a timeout, a failed send, a cancellation).</summary>
    void Complete();

    /// <summary>Seconds the exchange spent moving and summing buckets (not waiting for this worker's backward), once
    /// complete: the buffer's bytes over this are its rate.</summary>
    double WorkSeconds { get; }
}

/// <summary>The exchange of a single worker: nothing to add.</summary>
public sealed class SingleWorkerExchange : IGradientExchange, IStepExchange
{
    public int WorldSize => 1;

    public double WorkSeconds => 0;

    public IStepExchange Begin(long step, Tensor gradients, IReadOnlyList<GradientBucket> buckets, CancellationToken cancel) => this;

    public void Ready(int bucket) { }

    public void Complete() { }

    public void Dispose() { }
}
