using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Schedules;
using Microsoft.Extensions.Logging.Abstractions;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Engine;

/// <summary>The single-process loop: learning, stage transitions, checkpoints and exact resume.</summary>
public sealed class TrainerTests
{
    private sealed class Recorder : ITrainingObserver
    {
        public List<StepMetrics> Steps { get; } = [];
        public List<StageTransition> Stages { get; } = [];
        public List<long> Checkpoints { get; } = [];
        public List<IReadOnlyList<EvalResult>> Evaluations { get; } = [];
        public void OnStageStarted(StageTransition transition) => Stages.Add(transition);
        public void OnStep(StepMetrics metrics) => Steps.Add(metrics);
        public void OnCheckpoint(long step, string folder, double seconds) => Checkpoints.Add(step);
        public void OnEvaluation(long step, long tokens, double elapsedSeconds, IReadOnlyList<EvalResult> results) => Evaluations.Add(results);
    }

    [Fact]
    public void LossFallsOnALearnableCorpus()
    {
        using var tiny = new TinyRun();
        var spec = tiny.Spec with { Budget = new BudgetConfig { Tokens = 512 * 40 }, Schedule = tiny.Spec.Schedule with { Kind = "fixed", MinLength = 64 } };
        using var run = tiny.Open(spec);
        var recorder = new Recorder();
        using var trainer = new Trainer(run, null, recorder, NullLogger.Instance);
        Assert.Equal(TrainingOutcome.Completed, trainer.Train(CancellationToken.None));
        var first = recorder.Steps.Take(3).Average(s => s.Loss);
        var last = recorder.Steps.TakeLast(3).Average(s => s.Loss);
        Assert.True(first > Math.Log(257) - 1, $"initial loss {first} should be near uniform over 257 bytes");
        Assert.True(last < first * 0.6, $"loss went from {first:F3} to {last:F3}; it should fall by 40%");
    }

    [Fact]
    public void StagesChangeExactlyWhereTheScheduleSays()
    {
        using var tiny = new TinyRun();
        using var run = tiny.Open();
        var recorder = new Recorder();
        using var trainer = new Trainer(run, null, recorder, NullLogger.Instance);
        trainer.Train(CancellationToken.None);
        // Tiny: 512 tokens per step, budget 24 steps, lengths 16, 32, 64 with equal shares: 8 steps each.
        Assert.Equal([(0, 16, 0L), (1, 32, 8L), (2, 64, 16L)], recorder.Stages.Select(s => (s.Stage, s.Length, s.Step)));
        Assert.Equal(24, recorder.Steps.Count);
        Assert.All(recorder.Steps, s => Assert.Equal(s.Step < 8 ? 16 : s.Step < 16 ? 32 : 64, s.Length));
        Assert.All(recorder.Steps, s => Assert.Equal(512, s.StepTokens));
    }

    [Fact]
    public void ResumeFromACheckpointEndsBitwiseEqualToAnUninterruptedRun()
    {
        using var tiny = new TinyRun();
        using var run = tiny.Open();

        using var straight = new Trainer(run, null, NullTrainingObserver.Instance, NullLogger.Instance);
        straight.Train(CancellationToken.None);

        // Stop after step 11 (mid-stage, after the transition at 8), then resume in a fresh trainer.
        var store = new CheckpointStore(tiny.CheckpointRoot("resumed"), 2, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var stopper = new StopAfter(11, stop);
        using (var first = new Trainer(run, store, stopper, NullLogger.Instance))
            Assert.Equal(TrainingOutcome.Stopped, first.Train(stop.Token));
        var handle = store.OpenLatestValid();
        Assert.NotNull(handle);
        Assert.Equal(11, handle.Step);

        using var second = new Trainer(run, store, NullTrainingObserver.Instance, NullLogger.Instance);
        second.Resume(handle);
        Assert.Equal(TrainingOutcome.Completed, second.Train(CancellationToken.None));

        Assert.Equal(straight.State.Progress with { ElapsedSeconds = 0, StageStartSeconds = 0 },
            second.State.Progress with { ElapsedSeconds = 0, StageStartSeconds = 0 });
        Assert.True(straight.Engine.Parameters.Values.equal(second.Engine.Parameters.Values).all().item<bool>(), "parameters differ after resume");
        Assert.True(straight.Engine.Optimizer.SecondMoment.equal(second.Engine.Optimizer.SecondMoment).all().item<bool>(), "optimizer state differs after resume");
    }

    [Fact]
    public void CheckpointsAreTakenEveryNStepsAndAtStageTransitions()
    {
        using var tiny = new TinyRun();
        using var run = tiny.Open();
        var recorder = new Recorder();
        var store = new CheckpointStore(tiny.CheckpointRoot("cadence"), 10, NullLogger.Instance);
        using var trainer = new Trainer(run, store, recorder, NullLogger.Instance);
        trainer.Train(CancellationToken.None);
        // every 5 steps: 5, 10, 15, 20; transitions before steps 8 and 16; the end at 24.
        Assert.Equal([5L, 8, 10, 15, 16, 20, 24], recorder.Checkpoints);
        Assert.Equal([5L, 8, 10, 15, 16, 20, 24], store.List().Select(m => m.Step));
        Assert.Equal(7, trainer.CheckpointPauses.Count);
        Assert.Equal(24, trainer.State.Progress.Step);
    }

    [Fact]
    public void ACheckpointThatCannotBeWrittenFailsTheRunAtAStepBoundaryNamingTheFolder()
    {
        using var tiny = new TinyRun();
        using var run = tiny.Open();
        // The root is a file, so no checkpoint folder can be made under it: the background write fails.
        var root = tiny.CheckpointRoot("blocked");
        Directory.CreateDirectory(Path.GetDirectoryName(root)!);
        File.WriteAllText(root, "not a folder");
        var store = new CheckpointStore(root, 2, NullLogger.Instance);
        var recorder = new Recorder();
        using var trainer = new Trainer(run, store, recorder, NullLogger.Instance);

        var failure = Assert.Throws<CheckpointWriteException>(() => trainer.Train(CancellationToken.None));

        Assert.Equal(store.FolderFor(5), failure.Folder);
        Assert.Contains("could not be written", failure.Message);
        Assert.Empty(recorder.Checkpoints);
        // At a step boundary after it failed (at the latest the next checkpoint's, at step 8), not at the end of the run.
        Assert.InRange(recorder.Steps.Count, 5, 8);
    }

    [Fact]
    public void EvaluationCoversEveryLengthAndModeBeyondTheTrainedLength()
    {
        using var tiny = new TinyRun();
        using var run = tiny.Open();
        using var trainer = new Trainer(run, null, NullTrainingObserver.Instance, NullLogger.Instance);
        trainer.Train(CancellationToken.None);
        var results = trainer.EvaluateAll();
        // Lengths 16 and 64 are within the trained range (one mode); 128 is beyond (three modes).
        Assert.Equal([(16, 1), (64, 1), (128, 3)], results.GroupBy(r => r.Length).Select(g => (g.Key, g.Count())));
        Assert.All(results, r => Assert.True(double.IsFinite(r.Loss) && r.Loss > 0 && r.Loss < Math.Log(257) + 1));
    }

    [Fact]
    public void PreflightRunsAtTheMaximumLengthWithoutChangingTheModel()
    {
        using var tiny = new TinyRun();
        using var run = tiny.Open();
        using var trainer = new Trainer(run, null, NullTrainingObserver.Instance, NullLogger.Instance);
        var before = trainer.Engine.Parameters.Values.clone();
        trainer.Preflight();
        Assert.Equal(64, trainer.Engine.PreparedLength);
        Assert.True(before.equal(trainer.Engine.Parameters.Values).all().item<bool>());
        Assert.Equal(0, trainer.Engine.Parameters.Gradients.abs().sum().item<float>());
    }

    /// <summary>Requests a stop once a given number of steps has completed.</summary>
    private sealed class StopAfter(long steps, CancellationTokenSource source) : ITrainingObserver
    {
        public void OnStageStarted(StageTransition transition) { }
        public void OnStep(StepMetrics metrics) { if (metrics.Step + 1 >= steps) source.Cancel(); }
        public void OnCheckpoint(long step, string folder, double seconds) { }
        public void OnEvaluation(long step, long tokens, double elapsedSeconds, IReadOnlyList<EvalResult> results) { }
    }
}
