namespace GrowLength.Training.Evaluation;

/// <summary>A point of a run's validation curve as the bare Trainer measured it: the loss at the curve length after
/// <see cref="Steps"/> steps.</summary>
/// <param name="Seconds">training seconds by then (sum of step times; evaluation excluded).</param>
/// <param name="TransitionOffset">for a point around a length change (eval.atTransitions), the steps trained at the new
/// length by then: 0, 1 or 2; <see cref="ValidationCadence.NoTransition"/> for the regular cadence's points.</param>
public sealed record ValidationPoint(long Steps, long Tokens, double Seconds, EvalResult Result, int TransitionOffset);
