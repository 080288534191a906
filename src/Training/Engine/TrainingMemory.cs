using GrowLength.Training.Run;

namespace GrowLength.Training.Engine;

/// <summary>The host memory one CPU worker of a run needs at least: its fp32 training state, and what autograd keeps for
/// one micro-batch at the longest length. Checked when a run is created, so a model that cannot fit is refused before
/// anything is written, rather than found by the worker's preflight, or by the kernel's out-of-memory killer taking the silo.</summary>
/// <remarks>A lower bound, so a refusal is certain: the state is counted exactly, the activations only as the tensors the
/// backward pass must keep (per block the normed inputs, q/k/v, the attention output, SwiGLU's gate, up and product; then
/// the final norm, the logits and their log-softmax), not the transient buffers of the passes themselves.</remarks>
/// <param name="StateBytes">parameters, gradients, the weight-decay mask and AdamW's two moments: 5 fp32 copies of the parameters.</param>
/// <param name="ActivationBytes">the activations kept for one micro-batch.</param>
/// <param name="Rows">rows of the micro-batch at <paramref name="Length"/>.</param>
/// <param name="Length">the longest sequence length of the run.</param>
public sealed record TrainingMemory(long StateBytes, long ActivationBytes, int Rows, int Length)
{
    /// <summary>Fp32 buffers the size of the parameters that a worker holds (FlatParameters: values, gradients, decay mask; AdamW: two moments).</summary>
    public const int StateCopies = 5;

    /// <summary>Both together.</summary>
    public long TotalBytes => StateBytes + ActivationBytes;

    /// <summary>The estimate for <paramref name="spec"/>, whose vocabulary must be resolved (<see cref="RunSpec.WithVocabularyOf"/>).</summary>
    public static TrainingMemory Of(RunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var model = spec.Model;
        var length = spec.Schedule.MaxLength;
        var rows = Schedules.BatchPlan.MicroBatchRows(length, spec.Schedule.MicroBatchTokens);
        long d = model.Dim, h = model.MlpHidden, v = model.VocabSize;
        // Checked: a hostile spec's shape must overflow into a refusal, not wrap into a small number that passes.
        checked
        {
            var parameters = model.ParameterCount;
            var state = StateCopies * sizeof(float) * parameters;
            var perToken = model.Layers * (8 * d + 3 * h) + 2 * d + 2 * v;
            var activations = sizeof(float) * perToken * rows * length;
            return new TrainingMemory(state, activations, rows, length);
        }
    }

    /// <summary>Throws <see cref="RunInputException"/> naming the settings to change when <paramref name="spec"/> needs more
    /// than <paramref name="available"/>.</summary>
    public static void Check(RunSpec spec, HostMemory available)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(available);
        TrainingMemory need;
        try
        {
            need = Of(spec);
        }
        catch (OverflowException)
        {
            throw new RunInputException("model", $"a model of model.dim={spec.Model.Dim}, model.layers={spec.Model.Layers}, model.mlpHidden={spec.Model.MlpHidden} "
                + $"and a vocabulary of {spec.Model.VocabSize:N0} needs more memory than can be counted; {available.Bytes:N0} bytes are available ({available.Source}).");
        }
        if (need.TotalBytes <= available.Bytes) return;
        var m = spec.Model;
        var model = $"model.dim={m.Dim}, model.layers={m.Layers}, model.mlpHidden={m.MlpHidden}, vocabulary {m.VocabSize:N0}";
        var batch = $"{need.Rows} rows × {need.Length} (schedule.microBatchTokens={spec.Schedule.MicroBatchTokens}, schedule.maxLength={spec.Schedule.MaxLength})";
        var problem = $"a worker of this run needs at least {Gib(need.TotalBytes)}: {Gib(need.StateBytes)} for the {need.StateBytes / StateCopies / sizeof(float):N0} parameters' "
            + $"training state ({model}) and {Gib(need.ActivationBytes)} of activations for a micro-batch of {batch}; "
            + $"this silo has {Gib(available.Bytes)} available ({available.Source}). ";
        // Name what to change: the model when its state alone cannot fit, the micro-batch otherwise.
        if (need.StateBytes > available.Bytes)
            throw new RunInputException("model", problem + "Use a smaller model (model.dim, model.layers, model.mlpHidden, or a smaller preset).");
        throw new RunInputException("schedule.microBatchTokens", problem + "Lower schedule.microBatchTokens (or schedule.maxLength), or use a smaller model.");
    }

    private static string Gib(long bytes) => $"{bytes / (double)(1L << 30):F2} GiB ({bytes:N0} bytes)";
}
