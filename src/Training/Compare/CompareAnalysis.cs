using GrowLength.Training.Model;
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
/// <param name="SpeedUp">the "first reached" speed-up: the baseline's seconds to its own final loss over
/// <see cref="SecondsToTarget"/>.</param>
/// <param name="Sustained">true when, after first reaching the target, every later point of the curve stayed at or below
/// it (within <see cref="CompareAnalysis.Tolerance"/>); false when it rose above it again or never reached it.</param>
public sealed record TargetTime(string Schedule, int Repeat, double TargetLoss, double? SecondsToTarget, double? SpeedUp, bool Sustained)
{
    /// <summary>The "sustained" speed-up: <see cref="SpeedUp"/> for a run that stayed at or below the target, else null.</summary>
    public double? SustainedSpeedUp => Sustained ? SpeedUp : null;
}

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

    /// <summary>How far above the target a point after the first crossing may lie and still count as staying below it:
    /// the point's standard error when its evaluation gives one (a rise within the evaluation's own noise is not a
    /// rise), else 0. The one place to change what "stays below" forgives.</summary>
    public static double Tolerance(CurvePoint point) => double.IsFinite(point.StandardError) && point.StandardError > 0 ? point.StandardError : 0;

    /// <summary>True when <paramref name="curve"/> reaches <paramref name="target"/> and every point after the first one
    /// at or below it stays at or below target + <see cref="Tolerance"/>; false when it rises above again or never reaches it.</summary>
    public static bool StaysAtOrBelow(IReadOnlyList<CurvePoint> curve, double target)
    {
        var first = -1;
        for (int i = 0; i < curve.Count && first < 0; i++)
            if (curve[i].Loss <= target) first = i;
        if (first < 0) return false;
        for (int i = first + 1; i < curve.Count; i++)
            if (!(curve[i].Loss <= target + Tolerance(curve[i]))) return false;
        return true;
    }

    /// <summary>Each run's time to its repeat's baseline final loss, the speed-up over the baseline's own time to it, and
    /// whether the run stayed below that loss afterwards. Empty when the comparison has no fixed-max baseline.</summary>
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
            result.Add(new TargetTime(run.Schedule, run.Repeat, target, seconds, speedUp, StaysAtOrBelow(run.Curve, target)));
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

    /// <summary>The RoPE mode of the per-length intervals: extrapolation, the GrowLength paper's choice and the only mode
    /// measured within the trained length, so every length has it.</summary>
    public const RopeScaling SummaryMode = RopeScaling.Extrapolate;

    /// <summary>Per schedule, in the order first seen: means, 95% intervals and ranges over its repeats. Speed-ups are
    /// paired by repeat and summarised on their logarithms (<see cref="Spread.OfRatios"/>).</summary>
    public static IReadOnlyList<ScheduleSummary> Summaries(IReadOnlyList<CompareRunResult> runs, IReadOnlyList<TargetTime> targets)
    {
        return runs.GroupBy(r => r.Schedule).Select(g =>
        {
            var t = targets.Where(x => x.Schedule == g.Key).ToList();
            var finalLoss = Spread.Of(g.Select(r => r.FinalLoss));
            var byLength = g.SelectMany(r => r.Final).Where(e => e.Mode == SummaryMode).Select(e => e.Length).Distinct().Order()
                .Select(length => new LengthLoss(length, Spread.Of(g.Select(r =>
                    r.Final.FirstOrDefault(e => e.Length == length && e.Mode == SummaryMode)?.Loss ?? double.NaN))))
                .ToList();
            return new ScheduleSummary(g.Key, g.Count(),
                Spread.Of(g.Select(r => (double)r.Tokens)), Spread.Of(g.Select(r => r.Seconds)),
                finalLoss, finalLoss.Map(Math.Exp),
                Spread.Of(t.Select(x => x.SecondsToTarget ?? double.NaN)), Spread.OfRatios(t.Select(x => x.SpeedUp ?? double.NaN)),
                t.Count(x => x.SecondsToTarget is not null),
                Spread.OfRatios(t.Select(x => x.SustainedSpeedUp ?? double.NaN)), t.Count(x => x.Sustained),
                byLength);
        }).ToList();
    }
}
