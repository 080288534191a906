using System.Text.Json;
using GrowLength.Grains;
using GrowLength.Grains.Storage;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Model;
using GrowLength.Training.Run;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Cluster.Tests;

/// <summary>The cluster trainer's validation-loss curve (eval.everySteps): measured by rank 0 at schedule.maxLength on the
/// same held-out windows as the bare Trainer and the client's final evaluation, off the training clock, without changing
/// training.</summary>
public sealed class EvaluationTests(OneSiloCluster fixture) : IClassFixture<OneSiloCluster>
{
    private RunSpec EveryTwoSteps => fixture.Spec with { Eval = fixture.Spec.Eval with { EverySteps = 2 } };

    [Fact]
    public async Task ARunWithEveryTwoStepsRecordsTheCurveFromStepZeroToTheEnd()
    {
        var status = await fixture.RunToEnd("curve", 1, EveryTwoSteps);
        ClusterFixture.AssertCompleted(status);
        var points = await fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("curve").Evaluations();

        Assert.Equal(Enumerable.Range(0, 13).Select(i => 2L * i), points.Select(p => p.Steps));
        Assert.All(points, p => Assert.Equal(512 * p.Steps, p.Tokens)); // tiny: 512 tokens a step
        Assert.All(points, p => Assert.Equal(64, p.Length));
        Assert.All(points, p => Assert.True(double.IsFinite(p.Loss) && p.Loss > 0, $"step {p.Steps}: loss {p.Loss}"));
        Assert.Equal(0, points[0].ElapsedSeconds);
        Assert.All(points.Zip(points.Skip(1)), p => Assert.True(p.Second.ElapsedSeconds > p.First.ElapsedSeconds, $"seconds at {p.Second.Steps}"));
        Assert.Equal(status.ElapsedSeconds, points[^1].ElapsedSeconds);
        Assert.True(points[^1].Loss < points[0].Loss, $"validation loss {points[0].Loss} → {points[^1].Loss}");

        // The same numbers as the bare Trainer's evaluations, origin included (same weights bitwise, same windows, one loss loop).
        var (trainer, bare) = fixture.TrainBareWithEvaluations(EveryTwoSteps);
        trainer.Dispose();
        Assert.Equal(bare, points.Select(p => (p.Steps, p.Loss)));

        // The last point is what the client's final evaluation (RunReport.Evaluate) gives at maxLength from the final checkpoint.
        var latest = await fixture.Grains.GetGrain<ICheckpointGrain>("curve").Latest();
        Assert.NotNull(latest);
        Assert.Equal(24, latest.Step);
        var final = EvaluateCheckpoint(latest, 64);
        Assert.All(points, p => Assert.Equal(final.Windows, p.Windows));
        Assert.Equal(final.Loss, points[^1].Loss, 1e-6);
    }

    [Fact]
    public async Task EvaluatingDuringTheRunLeavesTrainingBitwiseUnchanged()
    {
        // The reference trains without evaluations (eval.everySteps = 0); the cluster run evaluates every other step.
        var (trainer, steps, _) = fixture.TrainBare();
        using var _ = trainer;
        var status = await fixture.RunToEnd("curve-unchanged", 1, EveryTwoSteps);
        ClusterFixture.AssertCompleted(status);

        var records = await fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("curve-unchanged").Steps(0);
        Assert.Equal(steps.Select(s => (s.Step, s.Length, s.Loss)), records.Select(r => (r.Step, r.Length, r.Loss)));
        Assert.Equal(0, await Compare.MaxWeightDifference(fixture.Grains, "curve-unchanged", trainer));
        Assert.Equal(13, (await fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("curve-unchanged").Evaluations()).Length);
    }

    [Fact]
    public async Task WithoutEveryStepsOnlyTheFinalPointIsRecorded()
    {
        var status = await fixture.RunToEnd("final-point", 1);
        ClusterFixture.AssertCompleted(status);
        var point = Assert.Single(await fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("final-point").Evaluations());
        Assert.Equal((24L, 512L * 24, 64), (point.Steps, point.Tokens, point.Length));
        Assert.Equal(status.ElapsedSeconds, point.ElapsedSeconds);
    }

    [Fact]
    public async Task TwoWorkersRecordTheCurveAndStayIdentical()
    {
        var status = await fixture.RunToEnd("curve-two", 2, EveryTwoSteps);
        ClusterFixture.AssertCompleted(status);
        var points = await fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("curve-two").Evaluations();
        Assert.Equal(Enumerable.Range(0, 13).Select(i => 2L * i), points.Select(p => p.Steps));
        var records = await fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("curve-two").Steps(0);
        Assert.All(records, r => Assert.True(r.Checksums[0] == r.Checksums[1], $"step {r.Step}: workers' parameters differ"));
    }

    [Fact]
    public async Task AStoppedAndResumedRunHasEachPointOnce()
    {
        var coordinator = fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("curve-resume");
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(EveryTwoSteps)));
        await coordinator.Start(new StartRun(1));
        await ClusterFixture.WaitWhileRunning(coordinator, s => s.Step >= 9);
        await coordinator.Stop();
        var stopped = await ClusterFixture.WaitWhileRunning(coordinator);
        Assert.Equal(RunLifecycle.Stopped, stopped.Lifecycle);
        // A stop adds no point of its own: the points so far are the cadence's, up to the stop.
        var before = await coordinator.Evaluations();
        Assert.Equal(Enumerable.Range(0, (int)stopped.Step / 2 + 1).Select(i => 2L * i), before.Select(p => p.Steps));

        await coordinator.Resume(new StartRun(1));
        var resumed = await ClusterFixture.WaitWhileRunning(coordinator);
        ClusterFixture.AssertCompleted(resumed);
        var points = await coordinator.Evaluations();
        Assert.Equal(Enumerable.Range(0, 13).Select(i => 2L * i), points.Select(p => p.Steps));
        Assert.Equal(before, points.Take(before.Length));
        var (trainer, bare) = fixture.TrainBareWithEvaluations(EveryTwoSteps);
        trainer.Dispose();
        Assert.Equal(bare, points.Select(p => (p.Steps, p.Loss)));
    }

    [Fact]
    public async Task AtTransitionsTheRunHasThePointsAroundEachLengthChangeAsTheBareTrainerMeasuresThem()
    {
        var spec = fixture.Spec with { Eval = fixture.Spec.Eval with { EverySteps = 4, AtTransitions = true } };
        var status = await fixture.RunToEnd("curve-transitions", 1, spec);
        ClusterFixture.AssertCompleted(status);
        var points = await fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("curve-transitions").Evaluations();

        // Tiny: lengths 16 → 32 → 64 from steps 8 and 16; every 4 steps besides, and 8 and 16 are on both.
        Assert.Equal([0L, 4, 8, 9, 10, 12, 16, 17, 18, 20, 24], points.Select(p => p.Steps));
        Assert.Equal([-1, -1, 0, 1, 2, -1, 0, 1, 2, -1, -1], points.Select(p => p.TransitionOffset));
        Assert.All(points, p => Assert.True(double.IsFinite(p.StandardError) && p.StandardError > 0, $"step {p.Steps}: se {p.StandardError}"));

        // The same points, losses and standard errors as the bare Trainer's (same weights bitwise, same windows).
        using var run = PreparedRun.Open(spec, fixture.Options.CorpusCacheFolder, NullLogger.Instance);
        using var trainer = new Trainer(run, null, NullTrainingObserver.Instance, NullLogger.Instance);
        Assert.Equal(TrainingOutcome.Completed, trainer.Train(CancellationToken.None));
        Assert.Equal(trainer.Curve.Select(p => (p.Steps, p.TransitionOffset, p.Result.Loss, p.Result.StandardError)),
            points.Select(p => (p.Steps, p.TransitionOffset, p.Loss, p.StandardError)));
    }

    [Fact]
    public void EvaluationRecordsKeepTheirStandardErrorAndMarkThroughTheCoordinatorsStateFile()
    {
        var state = new CoordinatorState
        {
            Evaluations = [new EvaluationRecord(8, 4096, 1.5, 64, 2.5, 4, 0.0125, 0), new EvaluationRecord(12, 6144, 2.5, 64, 2.25, 4, 0.01)],
            EvaluationDue = 9,
            EvaluationDueOnCadence = false,
            EvaluationDueTransition = 1,
        };
        var read = JsonSerializer.Deserialize<CoordinatorState>(JsonSerializer.Serialize(state, FileGrainStorage.Json), FileGrainStorage.Json)!;
        Assert.Equal(state.Evaluations, read.Evaluations);
        Assert.Equal((9L, false, 1), (read.EvaluationDue, read.EvaluationDueOnCadence, read.EvaluationDueTransition));
        Assert.Equal(-1, read.Evaluations[1].TransitionOffset);

        // A state file written before these fields: the points read as unmarked, with an unknown standard error, and a
        // point due then is on the cadence, as it was.
        var old = """
            { "evaluations": [ { "steps": 8, "tokens": 4096, "elapsedSeconds": 1.5, "length": 64, "loss": 2.5, "windows": 4 } ], "evaluationDue": 8 }
            """;
        var before = JsonSerializer.Deserialize<CoordinatorState>(old, FileGrainStorage.Json)!;
        var point = Assert.Single(before.Evaluations);
        Assert.True(double.IsNaN(point.StandardError));
        Assert.Equal(-1, point.TransitionOffset);
        Assert.Equal((8L, true, -1), (before.EvaluationDue, before.EvaluationDueOnCadence, before.EvaluationDueTransition));
    }

    /// <summary>Validation loss at <paramref name="length"/> of a checkpoint as RunReport.Evaluate computes it (the Client
    /// project is not referenced here; this is its code path: the checkpoint's spec and state, the corpus cache, Evaluator).</summary>
    private EvalResult EvaluateCheckpoint(CheckpointRecord checkpoint, int length)
    {
        var store = new CheckpointStore(Path.GetDirectoryName(checkpoint.Folder)!, Math.Max(1, checkpoint.KeepLast), NullLogger.Instance);
        var handle = store.Open(checkpoint.Step);
        var spec = TrainingCheckpoint.ReadSpec(handle);
        var state = TrainingCheckpoint.ReadState(handle);
        using var run = PreparedRun.Open(spec, fixture.Options.CorpusCacheFolder, NullLogger.Instance);
        using var engine = new StepEngine(spec.Model, spec.Seed, run.ResolveDevice());
        TrainingCheckpoint.LoadInto(handle, engine);
        var results = Evaluator.Evaluate(engine.Model, run.Corpus, spec.EvalLengths, spec.Eval.Modes(),
            Math.Max(state.LongestLength, spec.Schedule.MinLength), spec.Eval.MaxWindows, spec.Schedule.MicroBatchTokens);
        return results.Single(r => r.Length == length && r.Mode == RopeScaling.Extrapolate);
    }
}
