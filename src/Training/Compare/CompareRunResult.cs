using GrowLength.Training.Evaluation;

namespace GrowLength.Training.Compare;

/// <summary>A point of a run's validation curve: loss at the comparison's longest length after some training.</summary>
/// <param name="Seconds">training seconds (sum of step times; evaluation and checkpoints excluded).</param>
/// <param name="StandardError">the standard error of <see cref="Loss"/> over the evaluation's windows, when the
/// evaluation reports one; null otherwise.</param>
public sealed record CurvePoint(long Steps, long Tokens, double Seconds, double Loss, double? StandardError = null);

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
}
