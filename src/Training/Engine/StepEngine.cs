using GrowLength.Training.Model;
using GrowLength.Training.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace GrowLength.Training.Engine;

/// <summary>One compute slot's model, flat gradient buffer and optimizer: forward/backward over micro-batches, then the update.</summary>
/// <remarks>Between <see cref="AccumulateGradients"/> and <see cref="ApplyUpdate"/> the caller may exchange
/// <see cref="FlatParameters.Gradients"/> with other workers; the engine neither knows nor cares how.</remarks>
public sealed class StepEngine : IDisposable
{
    public StepEngine(ModelConfig config, long seed, Device? device = null)
    {
        Model = new GrowLengthTransformer(config, seed, device);
        Parameters = new FlatParameters(Model);
        Optimizer = new AdamW(Parameters);
        Buckets = Distributed.GradientBuckets.ByBlock(Parameters.Layout, Parameters.Count, config.Layers);
    }

    /// <summary>The gradient buffer's buckets in the order backward completes them (<see cref="Distributed.GradientBuckets"/>).</summary>
    public IReadOnlyList<Distributed.GradientBucket> Buckets { get; }

    /// <summary>The model being trained.</summary>
    public GrowLengthTransformer Model { get; }

    /// <summary>Parameters and gradients as flat buffers.</summary>
    public FlatParameters Parameters { get; }

    /// <summary>The optimizer and its state.</summary>
    public AdamW Optimizer { get; }

    /// <summary>Longest length the RoPE tables and buffers were prepared for.</summary>
    public int PreparedLength => Model.Rope.Length;

    /// <summary>Rebuilds RoPE tables for a new length (called at each stage transition, before its first step).</summary>
    public void PrepareLength(int length) => Model.PrepareLength(length);

    /// <summary>Validation loss on <paramref name="windows"/> with RoPE extrapolation (a point of the run's validation
    /// curve), then the training tables back as they were, so the next step computes exactly what it would have without it.</summary>
    public Evaluation.EvalResult MeasureValidation(Data.ValidationWindows windows, long batchTokens)
    {
        var prepared = PreparedLength;
        var result = Evaluation.Evaluator.Evaluate(Model, windows, RopeScaling.Extrapolate, windows.ContextLength, batchTokens);
        if (prepared > 0) PrepareLength(prepared);
        return result;
    }

    /// <summary>Zeroes the gradients, then runs forward and backward over this worker's rows in micro-batches.</summary>
    /// <param name="inputs">row-major [rows, length] token ids, exactly rows × length of them.</param>
    /// <param name="targets">row-major [rows, length] next-token ids, as many.</param>
    /// <param name="rows">rows this worker holds this step.</param>
    /// <param name="length">sequence length T.</param>
    /// <param name="microBatchRows">most rows per forward/backward pass (bounds activation memory).</param>
    /// <param name="globalTokens">tokens of the whole step over all workers: gradients are of the step's mean loss.</param>
    /// <param name="bucketReady">called with each of <see cref="Buckets"/>' indexes once, as soon as that bucket's gradient is
    /// final: during the last micro-batch's backward for the blocks, at the end for the rest. Runs inside backward, so it
    /// must not throw or block.</param>
    /// <returns>Sum of this worker's token losses (nats), for the caller to add up and divide by the step's tokens.</returns>
    public double AccumulateGradients(long[] inputs, long[] targets, int rows, int length, int microBatchRows, long globalTokens,
        Action<int>? bucketReady = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        if (inputs.Length != (long)rows * length || targets.Length != inputs.Length)
            throw new ArgumentException($"expected {rows} rows of {length} inputs and targets, got {inputs.Length} and {targets.Length} tokens");
        Parameters.ZeroGradients();
        Model.PrepareLength(length);
        Model.train();
        double lossSum = 0;
        // The step's tokens become one tensor each, and every micro-batch a view of it: no copy per micro-batch.
        using var stepScope = NewDisposeScope();
        // Held for the whole step: an implicit Scalar is unreachable during its native call and a GC could free it there.
        using Scalar stepTokens = globalTokens;
        var allInputs = tensor(inputs, [rows, length], ScalarType.Int64).to(Model.Device);
        var allTargets = tensor(targets, [rows, length], ScalarType.Int64).to(Model.Device);
        var signalled = new bool[Buckets.Count];
        void Signal(int bucket)
        {
            if (signalled[bucket]) return;
            signalled[bucket] = true;
            bucketReady!(bucket);
        }
        int layers = Model.Config.Layers;
        try
        {
            for (int start = 0; start < rows; start += microBatchRows)
            {
                int count = Math.Min(microBatchRows, rows - start);
                using var scope = NewDisposeScope();
                var x = allInputs.narrow(0, start, count);
                var y = allTargets.narrow(0, start, count);
                // Only the last micro-batch's backward finishes a block's gradient.
                if (bucketReady is not null && start + count >= rows)
                    Model.BlockGradientsDone = block => Signal(Distributed.GradientBuckets.OfBlock(block, layers));
                var loss = Model.LossSum(x, y);
                (loss / stepTokens).backward();
                lossSum += loss.item<float>();
            }
        }
        finally
        {
            Model.BlockGradientsDone = null;
        }
        if (bucketReady is not null)
            for (int b = 0; b < signalled.Length; b++) Signal(b);
        return lossSum;
    }

    /// <summary>One forward and backward pass at <paramref name="maxLength"/> with a full micro-batch of
    /// <paramref name="microBatchTokens"/>, so an out-of-memory shows at minute one rather than at the last stage
    /// (Composer pre-allocates for the same reason). Gradients are zeroed after it and the weights and optimizer are
    /// untouched, so training numbers do not change. Leaves the RoPE tables prepared for <paramref name="maxLength"/>.
    /// Both the bare Trainer and every cluster worker call this one piece of code. Returns its seconds.</summary>
    public double Preflight(int maxLength, long microBatchTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        var rows = Schedules.BatchPlan.MicroBatchRows(maxLength, microBatchTokens);
        var tokens = new long[rows * maxLength];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        AccumulateGradients(tokens, tokens, rows, maxLength, rows, tokens.Length);
        Parameters.ZeroGradients();
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Clips the (already exchanged) gradient and takes one AdamW step; returns the gradient norm before clipping.</summary>
    public double ApplyUpdate(double learningRate, double gradClip, AdamWSettings settings)
    {
        var norm = Optimizer.ClipGradients(gradClip);
        Optimizer.Step(learningRate, settings);
        return norm;
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Parameters.Dispose();
        Model.Dispose();
    }
}
