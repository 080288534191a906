namespace GrowLength.Training.Evaluation;

/// <summary>Why a point of the validation curve is measured now (<see cref="ValidationCadence.Due"/>).</summary>
/// <param name="OnCadence">the regular cadence asks for it (the origin, every eval.everySteps steps or eval.everySeconds
/// seconds, the end): the next regular point is spaced from this one.</param>
/// <param name="TransitionOffset">for a point eval.atTransitions asks for, the steps trained at the new length when it is
/// measured: 0 (after the last step at the old length), 1 or 2; <see cref="ValidationCadence.NoTransition"/> otherwise.</param>
public sealed record CurvePointDue(bool OnCadence, int TransitionOffset)
{
    /// <summary>True for a point around a length change.</summary>
    public bool AtTransition => TransitionOffset >= 0;
}
