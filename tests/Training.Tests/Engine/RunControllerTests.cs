using GrowLength.Training.Engine;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Engine;

/// <summary>The control loop driven step by step with made-up reports, as the Trainer and the coordinator drive it.</summary>
public sealed class RunControllerTests
{
    // Tiny: 24 steps of 512 tokens, 16 → 32 → 64 at steps 0, 8, 16, a checkpoint every 5 steps and at each transition.
    private static readonly RunController Loop = new(RunSpecPresets.Tiny());

    private static RankReport Report(RunOrder order, int rank = 0, int ranks = 1, double loss = 2.0, ulong checksum = 7) =>
        new(rank, order.Plan!.Length, loss * order.Plan.Tokens / ranks, order.Plan.Tokens / ranks, 0.5, checksum);

    /// <summary>Runs the loop to its end with well-behaved reports: every order, in turn.</summary>
    private static (RunControl State, List<RunOrder> Orders, List<StageTransition> Stages) RunToEnd(RunControl state, Func<long, bool>? stopAt = null)
    {
        var orders = new List<RunOrder>();
        var stages = new List<StageTransition>();
        while (true)
        {
            var (next, order, started) = Loop.Next(state, stopAt?.Invoke(state.Training.Progress.Step) == true);
            state = next;
            orders.Add(order);
            if (started is not null) stages.Add(started);
            if (order.Checkpoint is not null) state = RunController.Committed(state, order.Step);
            if (order.Kind != OrderKind.Train) return (state, orders, stages);
            var fold = Loop.Fold(state, [Report(order)]);
            Assert.False(fold.Failed, fold.Failure);
            state = fold.State;
        }
    }

    [Fact]
    public void AWholeRunGrowsAtTheScheduleAndCheckpointsOnItsCadence()
    {
        var (end, orders, stages) = RunToEnd(RunControl.Initial);

        Assert.Equal([(0, 16, 0L), (1, 32, 8L), (2, 64, 16L)], stages.Select(s => (s.Stage, s.Length, s.Step)));
        Assert.Equal(stages, end.Training.Transitions);
        Assert.Equal(25, orders.Count);
        Assert.All(orders.Take(24), (o, i) => Assert.Equal((OrderKind.Train, (long)i, 512L * i), (o.Kind, o.Step, o.Plan!.StreamOffset)));
        Assert.Equal((OrderKind.Finish, 24L), (orders[^1].Kind, orders[^1].Step));
        // Every 5 steps, before the first step of stages 1 and 2, and at the end.
        Assert.Equal([5L, 8, 10, 15, 16, 20, 24], orders.Where(o => o.Checkpoint is not null).Select(o => o.Step));
        Assert.Equal(24, end.LastCheckpointStep);
        Assert.Equal(24 * 512, end.Training.Progress.Tokens);
        // A transition's checkpoint holds the state before it: a resume from it records the transition again.
        var atEight = orders.Single(o => o.Step == 8).Checkpoint!;
        Assert.Equal((0, 1), (atEight.Progress.Stage, atEight.Transitions.Count));
        // The micro-batch rule comes with the plan: at most 256 tokens a pass (16 rows at 16, 4 at 64).
        Assert.Equal([16, 8, 4], orders.Take(24).Select(o => o.Plan!.MicroBatchRows).Distinct());
    }

    [Fact]
    public void AskingAgainBeforeTheFoldReturnsTheSameOrderAndRecordsNothingTwice()
    {
        var (first, order, started) = Loop.Next(RunControl.Initial, stop: false);
        Assert.NotNull(started);
        var (again, same, none) = Loop.Next(first, stop: true);
        Assert.Same(order, same);
        Assert.Same(first, again);
        Assert.Null(none);
        Assert.Single(again.Training.Transitions);
    }

    [Fact]
    public void AStopCheckpointsOnceAndAResumeRecordsTheInterruptedTransitionAgain()
    {
        var (stopped, orders, _) = RunToEnd(RunControl.Initial, stopAt: step => step == 8);
        var stop = orders[^1];
        Assert.Equal((OrderKind.Stop, 8L), (stop.Kind, stop.Step));
        Assert.Equal(8, stopped.LastCheckpointStep);
        Assert.Single(stop.Checkpoint!.Transitions);

        // The resume starts from the checkpoint's state: stage 1 starts at step 8 now, and step 8 is not saved again.
        var resumed = RunControl.ResumedFrom(stop.Checkpoint);
        var (_, next, started) = Loop.Next(resumed, stop: false);
        Assert.Equal((1, 32, 8L), (started!.Stage, started.Length, started.Step));
        Assert.Null(next.Checkpoint);
        var (end, rest, stages) = RunToEnd(resumed);
        Assert.Equal([(1, 8L), (2, 16L)], stages.Select(s => (s.Stage, s.Step)));
        var (uninterrupted, _, _) = RunToEnd(RunControl.Initial);
        Assert.Equal(uninterrupted.Training.Progress, end.Training.Progress);
        Assert.Equal(uninterrupted.Training.Transitions, end.Training.Transitions);
        Assert.Equal(OrderKind.Finish, rest[^1].Kind);
    }

    [Fact]
    public void AStopRightAfterACheckpointDoesNotSaveItAgain()
    {
        var (state, order, _) = Loop.Next(RunControl.ResumedFrom(TrainingState.Initial), stop: true);
        Assert.Equal(OrderKind.Stop, order.Kind);
        Assert.Null(order.Checkpoint);
        Assert.Equal(0, state.Training.Progress.Step);
    }

    [Fact]
    public void FoldAddsTheRanksLossesOverTheStepsTokensAndTakesTheSlowestRank()
    {
        var (state, order, _) = Loop.Next(RunControl.Initial, stop: false);
        var fold = Loop.Fold(state, [new RankReport(0, 16, 600, 256, 0.25, 9), new RankReport(1, 16, 424, 256, 0.75, 9)]);
        Assert.False(fold.Failed);
        Assert.Equal(2.0, fold.Loss);
        Assert.Equal(0.75, fold.Seconds);
        Assert.Equal((1L, 512L, 0.75), (fold.State.Training.Progress.Step, fold.State.Training.Progress.Tokens, fold.State.Training.Progress.ElapsedSeconds));
        Assert.Null(fold.State.Pending);
        Assert.Same(order.Plan, fold.Plan);
    }

    public static TheoryData<RankReport[], string> BadReports => new()
    {
        { [new RankReport(0, 16, 100, 256, 1, 9), new RankReport(1, 16, 100, 128, 1, 9)], "trained 384 tokens at step 0, the plan has 512" },
        { [new RankReport(0, 16, 100, 256, 1, 9), new RankReport(1, 16, 100, 256, 1, 8)], "parameters differ after step 0 (checksums 0:0000000000000009, 1:0000000000000008)" },
        { [new RankReport(0, 16, 100, 256, 1, 9), new RankReport(1, 32, 100, 256, 1, 9)], "worker 1 trained step 0 at length 32, the plan has 16" },
        { [new RankReport(0, 16, double.NaN, 256, 1, 9), new RankReport(1, 16, 100, 256, 1, 9)], "training diverged at step 0: loss is NaN. Lower optimizer.peakLearningRate" },
    };

    [Theory]
    [MemberData(nameof(BadReports))]
    public void AStepThatCannotBeFoldedSaysWhyAndLeavesTheProgressAlone(RankReport[] reports, string reason)
    {
        var (state, _, _) = Loop.Next(RunControl.Initial, stop: false);
        var fold = Loop.Fold(state, reports);
        Assert.True(fold.Failed);
        Assert.Contains(reason, fold.Failure);
        Assert.Same(state, fold.State);
    }

    [Fact]
    public void NothingToFoldAndACheckpointFromTheFutureAreProgramErrors()
    {
        Assert.Throws<InvalidOperationException>(() => Loop.Fold(RunControl.Initial, [new RankReport(0, 16, 1, 512, 1, 0)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => RunController.Committed(RunControl.Initial, 1));
    }
}
