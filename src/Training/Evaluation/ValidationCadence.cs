using GrowLength.Training.Run;

namespace GrowLength.Training.Evaluation;

/// <summary>When a run measures a point of its validation curve: before the first step, every eval.everySteps steps,
/// every eval.everySeconds training seconds, after the last step, and (eval.atTransitions) around each length change.
/// One rule for the bare Trainer and the cluster's worker loop.</summary>
public static class ValidationCadence
{
    /// <summary>The transition offset of a point that is not around a length change.</summary>
    public const int NoTransition = -1;

    /// <summary>Whether a point is due on the regular cadence with <paramref name="steps"/> steps completed after
    /// <paramref name="seconds"/> of training, given the last regular point measured (null when none yet).</summary>
    public static bool IsDue(EvalConfig eval, long steps, double seconds, (long Steps, double Seconds)? last, bool finished = false)
    {
        ArgumentNullException.ThrowIfNull(eval);
        if (!eval.MeasuresCurve) return false;
        if (last is { } l && l.Steps == steps) return false;
        if (last is null || finished) return true;
        if (eval.EverySteps > 0 && steps % eval.EverySteps == 0) return true;
        return eval.EverySeconds > 0 && seconds - last.Value.Seconds >= eval.EverySeconds;
    }

    /// <summary>The point due now, if any: on the regular cadence (<see cref="IsDue"/>), around a length change, or both.</summary>
    /// <param name="last">the last point measured on the regular cadence: points at length changes do not count, so they
    /// leave the spacing of eval.everySteps/everySeconds as it would be without them.</param>
    /// <param name="transitionOffset">steps trained at the new length when this is a point around a length change (0, 1, 2;
    /// <see cref="Engine.RunController.TransitionOffset"/>), else <see cref="NoTransition"/>.</param>
    public static CurvePointDue? Due(EvalConfig eval, long steps, double seconds, (long Steps, double Seconds)? last, int transitionOffset, bool finished = false)
    {
        ArgumentNullException.ThrowIfNull(eval);
        bool onCadence = IsDue(eval, steps, seconds, last, finished);
        bool atTransition = eval.AtTransitions && transitionOffset is >= 0 and <= 2;
        return onCadence || atTransition ? new CurvePointDue(onCadence, atTransition ? transitionOffset : NoTransition) : null;
    }
}
