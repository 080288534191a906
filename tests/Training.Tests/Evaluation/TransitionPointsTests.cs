using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Evaluation;

/// <summary>eval.atTransitions: the control loop places validation points after the last step at the old length and after
/// the first and second steps at the new one, the same whether asked as the bare Trainer asks (once the next order is
/// decided) or as the coordinator asks (when it folds a step), and without moving the regular cadence.</summary>
public sealed class TransitionPointsTests
{
    private static RunSpec Tiny(EvalConfig eval, Func<ScheduleConfig, ScheduleConfig>? schedule = null)
    {
        var spec = RunSpecPresets.Tiny();
        return spec with { Eval = eval, Schedule = schedule?.Invoke(spec.Schedule) ?? spec.Schedule };
    }

    /// <summary>Drives the loop to its end with made-up reports of 0.5 s a step; returns every point due, and the length changes.</summary>
    /// <param name="asTheCoordinator">ask after each fold, before the next order (the coordinator); else after each order is decided (the Trainer).</param>
    private static (List<(long Steps, bool OnCadence, int Offset)> Points, List<long> Changes) Drive(RunSpec spec, bool asTheCoordinator)
    {
        var loop = new RunController(spec);
        var state = RunControl.Initial;
        (long, double)? last = null;
        var points = new List<(long, bool, int)>();
        void Ask(TrainingState training, bool finished)
        {
            if (loop.CurvePointDue(training, last, finished) is not { } due) return;
            points.Add((training.Progress.Step, due.OnCadence, due.TransitionOffset));
            if (due.OnCadence) last = (training.Progress.Step, training.Progress.ElapsedSeconds);
        }
        if (asTheCoordinator) Ask(state.Training, finished: false);
        while (true)
        {
            var (next, order, _) = loop.Next(state, stop: false);
            state = next;
            if (!asTheCoordinator) Ask(state.Training, order.Kind == OrderKind.Finish);
            if (order.Kind != OrderKind.Train)
                return (points, [.. state.Training.Transitions.Skip(1).Select(t => t.Step)]);
            var fold = loop.Fold(state, [new RankReport(0, order.Plan!.Length, 2.0 * order.Plan.Tokens, order.Plan.Tokens, 0.5, 7)]);
            Assert.False(fold.Failed, fold.Failure);
            state = fold.State;
            if (asTheCoordinator) Ask(state.Training, loop.IsComplete(state.Training.Progress));
        }
    }

    private static List<(long Steps, bool OnCadence, int Offset)> Points(RunSpec spec)
    {
        var trainer = Drive(spec, asTheCoordinator: false).Points;
        Assert.Equal(trainer, Drive(spec, asTheCoordinator: true).Points);
        return trainer;
    }

    [Fact]
    public void AGrowLengthRunHasBeforePlusOneAndPlusTwoAtEachLengthChange()
    {
        // Tiny: 24 steps, lengths 16 → 32 → 64 from steps 8 and 16.
        var points = Points(Tiny(new EvalConfig { AtTransitions = true }));
        Assert.Equal([(0L, true, -1), (8, false, 0), (9, false, 1), (10, false, 2), (16, false, 0), (17, false, 1), (18, false, 2), (24, true, -1)], points);
    }

    [Fact]
    public void AFixedLengthRunHasNoTransitionPoints()
    {
        var points = Points(Tiny(new EvalConfig { AtTransitions = true, EverySteps = 6 }, s => s with { Kind = "fixed", MinLength = 64 }));
        Assert.Equal([0L, 6, 12, 18, 24], points.Select(p => p.Steps));
        Assert.All(points, p => Assert.Equal((true, ValidationCadence.NoTransition), (p.OnCadence, p.Offset)));
    }

    [Fact]
    public void WithoutAtTransitionsOnlyTheCadenceMeasures()
    {
        var points = Points(Tiny(new EvalConfig { EverySteps = 6 }));
        Assert.Equal([0L, 6, 12, 18, 24], points.Select(p => p.Steps));
        Assert.All(points, p => Assert.Equal(ValidationCadence.NoTransition, p.Offset));
    }

    [Fact]
    public void TransitionPointsLeaveTheRegularCadenceWhereItWas()
    {
        // Every 3 training seconds (6 steps of 0.5 s), spaced from the last regular point: a transition point at step 8
        // that moved the cadence would put the next regular point at 14 instead of 12.
        var regular = Points(Tiny(new EvalConfig { EverySeconds = 3 }));
        var both = Points(Tiny(new EvalConfig { EverySeconds = 3, AtTransitions = true }));
        Assert.Equal(regular.Select(p => p.Steps), both.Where(p => p.OnCadence).Select(p => p.Steps));
        Assert.Equal([0L, 6, 12, 18, 24], both.Where(p => p.OnCadence).Select(p => p.Steps));
        Assert.Equal([8L, 9, 10, 16, 17, 18], both.Where(p => p.Offset >= 0).Select(p => p.Steps));
        // Step 18 is both the second after the change at 16 and a regular point: measured once, marked as both.
        Assert.Equal((true, 2), both.Where(p => p.Steps == 18).Select(p => (p.OnCadence, p.Offset)).Single());
    }

    [Fact]
    public void AOneStepStageGivesItsLastPointToTheNextChange()
    {
        // Shares that leave the middle stage a single step: that step's end is both +1 of one change and "before" of the next.
        var spec = Tiny(new EvalConfig { AtTransitions = true }, s => s with { Shares = [0.45, 0.04, 0.51] });
        var (points, changes) = Drive(spec, asTheCoordinator: false);
        Assert.Equal(points, Points(spec));
        Assert.Equal(2, changes.Count);
        Assert.Equal(changes[0] + 1, changes[1]);
        var expected = new List<(long, bool, int)> { (0, true, -1), (changes[0], false, 0), (changes[1], false, 0), (changes[1] + 1, false, 1), (changes[1] + 2, false, 2), (24, true, -1) };
        Assert.Equal(expected, points);
    }

    [Fact]
    public void SchedulesThatChangeLengthMoreOftenThanMaxTransitionsGetNone()
    {
        // Linear 16 → 64 in multiples of 8 over half the budget: 6 length changes.
        RunSpec Linear(int maxTransitions) => Tiny(new EvalConfig { AtTransitions = true, MaxTransitions = maxTransitions },
            s => s with { Kind = "linear", LengthMultiple = 8 });
        var measured = Points(Linear(8));
        var (_, changes) = Drive(Linear(8), asTheCoordinator: false);
        Assert.Equal(6, changes.Count);
        Assert.All(changes, c => Assert.Contains(measured, p => p.Steps == c && p.Offset == 0));
        // Steps of 504 tokens at lengths 24, 40 and 56: more than 24 steps; only the origin and the end are measured.
        var none = Points(Linear(5));
        Assert.Equal(2, none.Count);
        Assert.Equal((0L, true, -1), none[0]);
        Assert.Equal((measured[^1].Steps, true, -1), none[1]);
    }
}
