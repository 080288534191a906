using GrowLength.Training.Evaluation;

namespace GrowLength.Training.Compare;

/// <summary>The loss just before and just after a length change.</summary>
/// <param name="Source">validation points (eval.atTransitions) or, for a run without them, the training loss.</param>
/// <param name="Window">training loss: steps averaged on each side; 0 for validation points.</param>
/// <param name="Before">validation: loss after the last step at the old length; training: mean loss of the
/// <see cref="Window"/> steps before the change (at the old length).</param>
/// <param name="After">validation: loss after the first step at the new length; training: mean loss of the first
/// <see cref="Window"/> steps at the new length.</param>
/// <param name="AfterSecond">validation: loss after the second step at the new length (NaN when the run had no second
/// step, and for training loss).</param>
/// <param name="BeforeStandardError">standard error of <paramref name="Before"/> over the windows (NaN for training loss).</param>
/// <param name="AfterStandardError">standard error of <paramref name="After"/> (NaN for training loss).</param>
/// <param name="AfterSecondStandardError">standard error of <paramref name="AfterSecond"/> (NaN for training loss).</param>
/// <param name="LastBefore">training loss of the last step before the change.</param>
/// <param name="FirstAfter">training loss of the first step after it.</param>
public sealed record TransitionLoss(string Schedule, int Repeat, long Step, int FromLength, int ToLength, TransitionSource Source, int Window,
    double Before, double After, double AfterSecond, double BeforeStandardError, double AfterStandardError, double AfterSecondStandardError,
    double LastBefore, double FirstAfter)
{
    /// <summary>After − Before: positive is a jump up.</summary>
    public double Jump => After - Before;

    /// <summary>√(se_before² + se_after²), the standard error of <see cref="Jump"/> were the two independent (NaN for training
    /// loss). Both are measured on the same windows, so their errors are correlated and this overstates the noise of the
    /// difference.</summary>
    public double JumpStandardError => StandardError.OfDifference(BeforeStandardError, AfterStandardError);
}

/// <summary>How one run did against its repeat's fixed-maximum baseline.</summary>
/// <param name="TargetLoss">the baseline's final validation loss in the same repeat (same seed).</param>
/// <param name="SecondsToTarget">training seconds until this run's validation loss first reached the target (linear
/// between curve points), or null when it never did.</param>
/// <param name="SpeedUp">the baseline's seconds to its own final loss over <see cref="SecondsToTarget"/>.</param>
public sealed record TargetTime(string Schedule, int Repeat, double TargetLoss, double? SecondsToTarget, double? SpeedUp);

/// <summary>Mean and range over the repeats of one schedule.</summary>
public sealed record Spread(double Mean, double Min, double Max, int Count)
{
    /// <summary>The spread of the finite values (NaN mean when none).</summary>
    public static Spread Of(IEnumerable<double> values)
    {
        var v = values.Where(double.IsFinite).ToList();
        return v.Count == 0 ? new Spread(double.NaN, double.NaN, double.NaN, 0) : new Spread(v.Average(), v.Min(), v.Max(), v.Count);
    }
}

/// <summary>One schedule over its repeats.</summary>
/// <param name="Reached">repeats whose validation loss reached the baseline's final loss.</param>
public sealed record ScheduleSummary(string Schedule, int Repeats, Spread Tokens, Spread Seconds, Spread FinalLoss,
    Spread FinalPerplexity, Spread SecondsToTarget, Spread SpeedUp, int Reached);

/// <summary>The numbers a comparison reports, computed from its runs alone (pure: no clock, no files).</summary>
public static class CompareAnalysis
{
    /// <summary>Training seconds until <paramref name="curve"/> first reaches <paramref name="target"/>, interpolated
    /// linearly between the two points that straddle it; null when it never does.</summary>
    public static double? SecondsToReach(IReadOnlyList<CurvePoint> curve, double target)
    {
        for (int i = 0; i < curve.Count; i++)
        {
            if (curve[i].Loss > target) continue;
            if (i == 0) return curve[0].Seconds;
            var (a, b) = (curve[i - 1], curve[i]);
            return a.Seconds + (a.Loss - target) / (a.Loss - b.Loss) * (b.Seconds - a.Seconds);
        }
        return null;
    }

    /// <summary>Each run's time to its repeat's baseline final loss and the speed-up over the baseline's own time to it.
    /// Empty when the comparison has no fixed-max baseline.</summary>
    public static IReadOnlyList<TargetTime> TargetTimes(IReadOnlyList<CompareRunResult> runs, string baseline = CompareArm.Baseline)
    {
        var result = new List<TargetTime>();
        foreach (var run in runs)
        {
            var base_ = runs.FirstOrDefault(r => r.Schedule == baseline && r.Repeat == run.Repeat);
            if (base_ is null || !double.IsFinite(base_.FinalLoss)) continue;
            var target = base_.FinalLoss;
            var baseSeconds = SecondsToReach(base_.Curve, target);
            var seconds = SecondsToReach(run.Curve, target);
            double? speedUp = seconds is > 0 && baseSeconds is > 0 ? baseSeconds / seconds : null;
            result.Add(new TargetTime(run.Schedule, run.Repeat, target, seconds, speedUp));
        }
        return result;
    }

    /// <summary>The loss around every length change after the first: from the run's validation points at its length
    /// changes (before, +1 and +2 steps) when it has any, else the training loss over <paramref name="window"/> steps each
    /// side. A change without the points it needs (the run ended right after it, or the client missed the steps) is left out.</summary>
    public static IReadOnlyList<TransitionLoss> Transitions(CompareRunResult run, int window = 3)
    {
        var byStep = run.StepLosses.ToDictionary(s => s.Step);
        // A point may serve two changes (the second after one and the last before the next), so they are found by step.
        var points = run.Curve.Where(p => p.TransitionOffset >= 0).GroupBy(p => p.Steps).ToDictionary(g => g.Key, g => g.Last());
        var result = new List<TransitionLoss>();
        for (int i = 1; i < run.Lengths.Count; i++)
        {
            var change = run.Lengths[i];
            var from = run.Lengths[i - 1].Length;
            double lastBefore = byStep.TryGetValue(change.Step - 1, out var lb) ? lb.Loss : double.NaN;
            double firstAfter = byStep.TryGetValue(change.Step, out var fa) ? fa.Loss : double.NaN;
            if (points.Count > 0)
            {
                if (!points.TryGetValue(change.Step, out var before) || !points.TryGetValue(change.Step + 1, out var after)) continue;
                var second = points.GetValueOrDefault(change.Step + 2);
                result.Add(new TransitionLoss(run.Schedule, run.Repeat, change.Step, from, change.Length, TransitionSource.Validation, 0,
                    before.Loss, after.Loss, second?.Loss ?? double.NaN, before.StandardError, after.StandardError,
                    second?.StandardError ?? double.NaN, lastBefore, firstAfter));
                continue;
            }
            var beforeSteps = Enumerable.Range(1, window).Select(k => change.Step - k).Where(byStep.ContainsKey).Select(s => byStep[s].Loss).ToList();
            var afterSteps = Enumerable.Range(0, window).Select(k => change.Step + k).Where(byStep.ContainsKey).Select(s => byStep[s].Loss).ToList();
            if (beforeSteps.Count == 0 || afterSteps.Count == 0) continue; // a change at the very end, or steps the client did not see
            result.Add(new TransitionLoss(run.Schedule, run.Repeat, change.Step, from, change.Length, TransitionSource.TrainingLoss, window,
                beforeSteps.Average(), afterSteps.Average(), double.NaN, double.NaN, double.NaN, double.NaN, lastBefore, firstAfter));
        }
        return result;
    }

    /// <summary>Per schedule, in the order first seen: means and ranges over its repeats.</summary>
    public static IReadOnlyList<ScheduleSummary> Summaries(IReadOnlyList<CompareRunResult> runs, IReadOnlyList<TargetTime> targets)
    {
        return runs.GroupBy(r => r.Schedule).Select(g =>
        {
            var t = targets.Where(x => x.Schedule == g.Key).ToList();
            return new ScheduleSummary(g.Key, g.Count(),
                Spread.Of(g.Select(r => (double)r.Tokens)), Spread.Of(g.Select(r => r.Seconds)),
                Spread.Of(g.Select(r => r.FinalLoss)), Spread.Of(g.Select(r => Math.Exp(r.FinalLoss))),
                Spread.Of(t.Select(x => x.SecondsToTarget ?? double.NaN)), Spread.Of(t.Select(x => x.SpeedUp ?? double.NaN)),
                t.Count(x => x.SecondsToTarget is not null));
        }).ToList();
    }
}
