using GrowLength.Training.Evaluation;

namespace GrowLength.Training.Compare;

/// <summary>A point of a run's validation curve: loss at the comparison's longest length after some training.</summary>
/// <param name="Seconds">training seconds (sum of step times; evaluation and checkpoints excluded).</param>
/// <param name="StandardError">standard error of <paramref name="Loss"/> over the validation windows; NaN when unknown
/// (one window, or a run recorded before it was measured).</param>
public sealed record CurvePoint(long Steps, long Tokens, double Seconds, double Loss, double StandardError = double.NaN)
{
    /// <summary>For a point around a length change (eval.atTransitions), the steps trained at the new length when it was
    /// measured: 0 (after the last step at the old length), 1 or 2; -1 for the regular cadence's points.</summary>
    public int TransitionOffset { get; init; } = -1;
}

/// <summary>A length change: the step at which <see cref="Length"/> took effect, with the tokens and training seconds before it.</summary>
public sealed record LengthChange(int Stage, int Length, long Step, long Tokens, double Seconds);

/// <summary>One step's mean training loss at its length.</summary>
public sealed record StepLoss(long Step, int Length, double Loss);

/// <summary>Everything one run of a comparison produced.</summary>
/// <param name="Schedule">the arm's name (growlength, fixed-max, …).</param>
/// <param name="Repeat">1-based repeat; repeats of all schedules with the same number share a seed.</param>
/// <param name="Curve">validation loss at <see cref="CurveLength"/> over training, oldest first.</param>
/// <param name="Lengths">the run's length changes, first at step 0.</param>
/// <param name="StepLosses">the training loss of every step the client saw.</param>
/// <param name="Final">loss per evaluation length and RoPE mode of the final model.</param>
/// <param name="TrainedLength">the longest length the run trained at.</param>
public sealed record CompareRunResult(
    string Schedule, int Repeat, long Seed, string RunId, long Steps, long Tokens, double Seconds, int CurveLength,
    IReadOnlyList<CurvePoint> Curve, IReadOnlyList<LengthChange> Lengths, IReadOnlyList<StepLoss> StepLosses,
    IReadOnlyList<EvalResult> Final, int TrainedLength)
{
    /// <summary>The last point of the curve: the final validation loss at the curve length.</summary>
    public double FinalLoss => Curve.Count > 0 ? Curve[^1].Loss : double.NaN;

    /// <summary>The standard error of <see cref="FinalLoss"/> over the validation windows (NaN when unknown).</summary>
    public double FinalStandardError => Curve.Count > 0 ? Curve[^1].StandardError : double.NaN;
}
