using GrowLength.Training.Run;

namespace GrowLength.Training.Evaluation;

/// <summary>When a run measures a point of its validation curve: before the first step, every eval.everySteps steps,
/// every eval.everySeconds training seconds, and after the last step. One rule for the bare Trainer and the cluster's
/// worker loop.</summary>
public static class ValidationCadence
{
    /// <summary>Whether a point is due with <paramref name="steps"/> steps completed after <paramref name="seconds"/> of
    /// training, given the last point measured (null when none yet).</summary>
    public static bool IsDue(EvalConfig eval, long steps, double seconds, (long Steps, double Seconds)? last, bool finished = false)
    {
        if (!eval.MeasuresCurve) return false;
        if (last is { } l && l.Steps == steps) return false;
        if (last is null || finished) return true;
        if (eval.EverySteps > 0 && steps % eval.EverySteps == 0) return true;
        return eval.EverySeconds > 0 && seconds - last.Value.Seconds >= eval.EverySeconds;
    }
}
