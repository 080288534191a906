using System.Diagnostics;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Model;
using GrowLength.Training.Optim;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace GrowLength.Training.Bench;

/// <summary>Settings of one <see cref="CheckpointPauseBenchmark"/> run.</summary>
/// <param name="Model">model shape (vocabulary resolved).</param>
/// <param name="Length">sequence length of every step.</param>
/// <param name="StepTokens">tokens per optimizer step.</param>
/// <param name="MicroBatchTokens">most tokens per forward/backward pass.</param>
/// <param name="Rounds">rounds, each taking one synchronous and one asynchronous checkpoint (their order alternates).</param>
/// <param name="QuietSteps">steps after each checkpoint once no write is in flight: the step time the pauses are a fraction of.</param>
/// <param name="Folder">where the checkpoints go (two stores under it); a real disk, since fsync is part of the cost.</param>
/// <param name="WarmupSteps">untimed steps first.</param>
/// <param name="Seed">seed of the model and the random tokens.</param>
public sealed record CheckpointPauseSettings(
    ModelConfig Model, int Length, long StepTokens, long MicroBatchTokens, int Rounds, string Folder, int QuietSteps = 2, int WarmupSteps = 2, long Seed = 1);

/// <summary>One round of the checkpoint pause benchmark, in seconds.</summary>
/// <param name="SyncPauseSeconds">the training thread in <c>TrainingCheckpoint.Save</c> and the prune after it: the whole write.</param>
/// <param name="AsyncPauseSeconds">the training thread in <see cref="AsyncCheckpointWriter.Begin"/>: the wait for a write in
/// flight (none here: each round's write finished first) and the copy to host memory.</param>
/// <param name="WriteSeconds">the asynchronous write in the background (files, fsync, hashes, manifest).</param>
/// <param name="StepsDuringWrite">steps that began while the background write was in flight.</param>
/// <param name="StepSecondsDuringWrite">their mean time: the write shares the machine with them.</param>
/// <param name="QuietStepSeconds">the mean time of the round's steps with no write in flight, to compare them with.</param>
public sealed record CheckpointPauseRound(int Round, double SyncPauseSeconds, double AsyncPauseSeconds, double WriteSeconds, int StepsDuringWrite,
    double StepSecondsDuringWrite, double QuietStepSeconds);

/// <summary>The pause a checkpoint leaves on the training thread, synchronous against asynchronous, measured side by side.</summary>
/// <param name="CheckpointBytes">bytes of one checkpoint's parts.</param>
/// <param name="StepSeconds">median time of the steps with no write in flight.</param>
/// <param name="SyncPauseSeconds">median synchronous pause.</param>
/// <param name="AsyncPauseSeconds">median asynchronous pause.</param>
/// <param name="WriteSeconds">median background write.</param>
/// <param name="StepSecondsDuringWrite">median time of the steps that began while a background write was in flight.</param>
/// <param name="StepSlowdownDuringWrite">median over the rounds of (their steps during the write ÷ their quiet steps) − 1:
/// what the write costs the steps it overlaps, compared within a round so the machine's drift cancels.</param>
public sealed record CheckpointPauseReport(
    long Parameters, long CheckpointBytes, double StepSeconds, double SyncPauseSeconds, double AsyncPauseSeconds, double WriteSeconds,
    double StepSecondsDuringWrite, double StepSlowdownDuringWrite, IReadOnlyList<CheckpointPauseRound> Rounds)
{
    /// <summary>The synchronous pause as a fraction of a step.</summary>
    public double SyncPauseFraction => SyncPauseSeconds / StepSeconds;

    /// <summary>The asynchronous pause as a fraction of a step.</summary>
    public double AsyncPauseFraction => AsyncPauseSeconds / StepSeconds;
}

/// <summary>Measures what a checkpoint costs the training thread: <c>TrainingCheckpoint.Save</c> (the synchronous path) and
/// <see cref="AsyncCheckpointWriter"/> with <c>TrainingCheckpoint.Snapshot</c> (the path the Trainer and the workers take),
/// on one engine in one process, alternating within every round so drift on a shared machine hits both.</summary>
/// <remarks>Each round: a checkpoint of one kind, steps until no write is in flight plus <see cref="CheckpointPauseSettings.QuietSteps"/>
/// quiet ones, then a checkpoint of the other kind and the same. The quiet steps' median is the step the pauses are
/// divided by; the steps that overlapped a background write are reported apart, since on a CPU the write and the step
/// share the cores. Random tokens, as in <see cref="ThroughputBenchmark"/>.</remarks>
public static class CheckpointPauseBenchmark
{
    public static CheckpointPauseReport Run(CheckpointPauseSettings settings, Device device, ILogger? logger = null, Action<CheckpointPauseRound>? onRound = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Rounds, 1);
        using var engine = new StepEngine(settings.Model, settings.Seed, device);
        var spec = new RunSpec { Name = "checkpoint-pause", Seed = settings.Seed, Model = settings.Model };
        var adam = new AdamWSettings(0.9, 0.95, 1e-8, 0.1);
        var plan = BatchPlan.For(settings.Length, settings.StepTokens, settings.MicroBatchTokens);
        int rows = plan.Rows, micro = plan.RowsPerMicroBatch, length = settings.Length;
        var random = new Random((int)settings.Seed);
        var inputs = new long[rows * length];
        var targets = new long[rows * length];
        for (int i = 0; i < inputs.Length; i++) { inputs[i] = random.Next(settings.Model.VocabSize); targets[i] = random.Next(settings.Model.VocabSize); }
        long stepTokens = (long)rows * length, step = 0;
        double Step()
        {
            var clock = Stopwatch.StartNew();
            engine.AccumulateGradients(inputs, targets, rows, length, micro, stepTokens);
            engine.ApplyUpdate(1e-4, 1.0, adam);
            MatmulRate.Synchronize(device);
            step++;
            return clock.Elapsed.TotalSeconds;
        }
        TrainingState State() => new(TrainingProgress.Initial with { Step = step, Tokens = step * stepTokens },
            [new StageTransition(0, length, 0, 0, 0)]);

        var syncStore = new CheckpointStore(Path.Combine(settings.Folder, "sync"), 1, logger);
        var asyncStore = new CheckpointStore(Path.Combine(settings.Folder, "async"), 1, logger);
        using var writer = new AsyncCheckpointWriter(asyncStore, logger);
        for (int i = 0; i < settings.WarmupSteps; i++) Step();

        var quiet = new List<double>();
        var during = new List<double>();
        var rounds = new List<CheckpointPauseRound>();
        long bytes = 0;
        for (int round = 1; round <= settings.Rounds; round++)
        {
            double sync = 0, async = 0, write = 0;
            var overlapped = new List<double>();
            var calm = new List<double>();
            foreach (var synchronous in round % 2 == 1 ? new[] { true, false } : [false, true])
            {
                if (synchronous)
                {
                    var clock = Stopwatch.StartNew();
                    var manifest = TrainingCheckpoint.Save(syncStore, engine, State(), spec);
                    syncStore.Prune(manifest.Step);
                    sync = clock.Elapsed.TotalSeconds;
                    bytes = manifest.Parts.Sum(p => p.Bytes);
                }
                else
                {
                    var state = State();
                    async = writer.Begin(() => TrainingCheckpoint.Snapshot(engine, state, spec), (c, _) =>
                    {
                        asyncStore.Prune(c.Step);
                        write = c.WriteSeconds;
                    }).Seconds;
                    while (writer.IsWriting) overlapped.Add(Step());
                    writer.WaitForInFlight();
                }
                for (int i = 0; i < settings.QuietSteps; i++) calm.Add(Step());
            }
            quiet.AddRange(calm);
            during.AddRange(overlapped);
            var result = new CheckpointPauseRound(round, sync, async, write, overlapped.Count, overlapped.Count == 0 ? double.NaN : overlapped.Average(),
                calm.Count == 0 ? double.NaN : calm.Average());
            rounds.Add(result);
            onRound?.Invoke(result);
        }
        return new CheckpointPauseReport(settings.Model.ParameterCount, bytes, Median(quiet), Median(rounds.Select(r => r.SyncPauseSeconds)),
            Median(rounds.Select(r => r.AsyncPauseSeconds)), Median(rounds.Select(r => r.WriteSeconds)), Median(during),
            Median(rounds.Where(r => r.StepsDuringWrite > 0).Select(r => r.StepSecondsDuringWrite / r.QuietStepSeconds - 1)), rounds);
    }

    private static double Median(IEnumerable<double> values) => SampleMedian.Of(values);
}
