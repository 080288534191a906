using GrowLength.Training.Data;
using GrowLength.Training.Model;
using static TorchSharp.torch;

namespace GrowLength.Training.Evaluation;

/// <summary>Validation loss and perplexity at one context length with one RoPE mode.</summary>
/// <param name="Length">context length of each window.</param>
/// <param name="Mode">RoPE treatment of positions beyond the trained length.</param>
/// <param name="Loss">mean next-token cross-entropy, nats per token.</param>
/// <param name="Windows">validation windows measured.</param>
/// <param name="BeyondTrained">true when the length exceeds the longest length trained.</param>
/// <param name="StandardError">standard error of <paramref name="Loss"/> over the windows (their losses' sample standard
/// deviation over √windows); NaN when not measured (one window).</param>
public sealed record EvalResult(int Length, RopeScaling Mode, double Loss, int Windows, bool BeyondTrained, double StandardError = double.NaN)
{
    /// <summary>exp(loss).</summary>
    public double Perplexity => Math.Exp(Loss);
}

/// <summary>Measures validation loss per context length on held-out windows that are the same for every run of a corpus.</summary>
public static class Evaluator
{
    /// <summary>Evaluates each length; lengths within the trained range use extrapolation only (the modes agree there).</summary>
    /// <param name="model">the model (its RoPE tables are left prepared for the last evaluation; training re-prepares them).</param>
    /// <param name="corpus">the packed corpus whose validation split is read.</param>
    /// <param name="lengths">context lengths.</param>
    /// <param name="modes">RoPE modes to try beyond the trained length.</param>
    /// <param name="trainedLength">longest length trained.</param>
    /// <param name="maxWindows">most windows per length.</param>
    /// <param name="batchTokens">most tokens per forward pass.</param>
    public static IReadOnlyList<EvalResult> Evaluate(
        GrowLengthTransformer model, PackedCorpus corpus, IReadOnlyList<int> lengths, IReadOnlyList<RopeScaling> modes,
        int trainedLength, int maxWindows, long batchTokens)
    {
        var results = new List<EvalResult>();
        foreach (var length in lengths)
        {
            var windows = new ValidationWindows(corpus, length, maxWindows);
            foreach (var mode in length > trainedLength ? modes : [RopeScaling.Extrapolate])
                results.Add(Evaluate(model, windows, mode, trainedLength, batchTokens));
        }
        return results;
    }

    /// <summary>Validation loss on <paramref name="windows"/> (from a corpus, or carried as tokens to a cluster worker) with
    /// RoPE tables for their length in <paramref name="mode"/>; in eval mode, and train mode is restored after.</summary>
    /// <param name="model">the model (its RoPE tables are left prepared for the windows' length; training re-prepares them).</param>
    /// <param name="windows">the validation windows.</param>
    /// <param name="mode">RoPE treatment of positions beyond <paramref name="trainedLength"/>.</param>
    /// <param name="trainedLength">longest length trained.</param>
    /// <param name="batchTokens">most tokens per forward pass.</param>
    public static EvalResult Evaluate(GrowLengthTransformer model, ValidationWindows windows, RopeScaling mode, int trainedLength, long batchTokens)
    {
        int length = windows.ContextLength;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            model.PrepareLength(length, mode, trainedLength);
            var (loss, standardError) = MeanLoss(model, windows, batchTokens);
            return new EvalResult(length, mode, loss, windows.Count, length > trainedLength, standardError);
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>Mean validation loss at one length with the model's current RoPE tables, and its standard error over the
    /// windows (<see cref="StandardError.OfMean"/> of each window's mean loss).</summary>
    public static (double Loss, double StandardError) MeanLoss(GrowLengthTransformer model, ValidationWindows windows, long batchTokens)
    {
        int length = windows.ContextLength;
        // The micro-batch rule of training: evaluation batches are bounded by the same tokens per pass.
        int perBatch = Schedules.BatchPlan.MicroBatchRows(length, batchTokens);
        if (windows.Count == 0) return (double.NaN, double.NaN);
        var windowLosses = new double[windows.Count];
        using var noGrad = no_grad();
        for (int first = 0; first < windows.Count; first += perBatch)
        {
            int count = Math.Min(perBatch, windows.Count - first);
            var inputs = new long[count * length];
            var targets = new long[count * length];
            windows.Read(first, count, inputs, targets);
            using var scope = NewDisposeScope();
            var x = tensor(inputs, [count, length], ScalarType.Int64).to(model.Device);
            var y = tensor(targets, [count, length], ScalarType.Int64).to(model.Device);
            var sums = model.RowLossSums(x, y).cpu().data<float>().ToArray();
            for (int k = 0; k < count; k++) windowLosses[first + k] = (double)sums[k] / length;
        }
        // Every window has the same length, so the mean of the windows' means is the mean over all tokens.
        return (windowLosses.Average(), StandardError.OfMean(windowLosses));
    }
}
