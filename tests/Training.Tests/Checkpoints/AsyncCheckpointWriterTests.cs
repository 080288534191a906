using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Model;
using GrowLength.Training.Optim;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;

namespace GrowLength.Training.Tests.Checkpoints;

/// <summary>Checkpoints written in the background: the same bytes as the synchronous save, one write at a time, failures
/// that reach the training thread naming the folder, and a write given up on dispose.</summary>
[Collection(GlobalGeneratorCollection.Name)]
public sealed class AsyncCheckpointWriterTests : IDisposable
{
    private readonly TempFolder temp = new();
    private readonly RecordingLogger log = new();

    public void Dispose() => temp.Dispose();

    private CheckpointStore Store(string name) => new(temp.Combine(name), 5, log);

    /// <summary>A tiny engine after <paramref name="steps"/> updates on fixed tokens, so the moments and step count are not zero.</summary>
    private static StepEngine TrainedEngine(int steps)
    {
        var engine = new StepEngine(ModelPresets.Tiny() with { VocabSize = 257 }, seed: 5);
        var tokens = Enumerable.Range(0, 4 * 16).Select(i => (long)(i * 7 % 257)).ToArray();
        for (int i = 0; i < steps; i++) Step(engine, tokens);
        return engine;
    }

    private static void Step(StepEngine engine, long[] tokens)
    {
        engine.AccumulateGradients(tokens, tokens, 4, 16, 4, tokens.Length);
        engine.ApplyUpdate(1e-3, 1.0, new AdamWSettings(0.9, 0.95, 1e-8, 0.1));
    }

    private static TrainingState StateAt(long step) =>
        new(TrainingProgress.Initial with { Step = step, Tokens = step * 64 }, [new StageTransition(0, 16, 0, 0, 0)]);

    private static CheckpointSnapshot BytesSnapshot(long step, Action<Stream> write) =>
        new(step, [("model.safetensors", write)], new Dictionary<string, string>(), []);

    [Fact]
    public void TheBackgroundWriteHasTheSynchronousSavesBytesEvenWhenTrainingMovesOnFirst()
    {
        using var engine = TrainedEngine(steps: 3);
        var spec = RunSpecPresets.Tiny();
        var state = StateAt(3);
        var saved = TrainingCheckpoint.Save(Store("sync"), engine, state, spec);

        using var snapshot = TrainingCheckpoint.Snapshot(engine, state, spec);
        // The engine trains on before the copy is written: the files must still be those of the state it was taken at.
        Step(engine, Enumerable.Repeat(3L, 64).ToArray());
        var manifest = snapshot.WriteTo(Store("async"));

        Assert.Equal([TrainingCheckpoint.ModelPart, TrainingCheckpoint.OptimizerPart, TrainingCheckpoint.RngPart, TrainingCheckpoint.StatePart, TrainingCheckpoint.SpecPart],
            saved.Parts.Select(p => p.Name));
        Assert.Equal(saved.Parts, manifest.Parts);
        Assert.Equal(saved.Properties, manifest.Properties);
    }

    [Fact]
    public void BeginReturnsAtOnceAndTheRecordFollowsTheCommitOnAnotherThread()
    {
        using var engine = TrainedEngine(steps: 2);
        var spec = RunSpecPresets.Tiny();
        var sync = TrainingCheckpoint.Save(Store("sync"), engine, StateAt(2), spec);
        var store = Store("async");
        using var writer = new AsyncCheckpointWriter(store, log);
        CommittedCheckpoint? recorded = null;
        bool committedBeforeRecord = false;
        int trainingThread = Environment.CurrentManagedThreadId, recordThread = -1;

        var pause = writer.Begin(() => TrainingCheckpoint.Snapshot(engine, StateAt(2), spec), (c, _) =>
        {
            recordThread = Environment.CurrentManagedThreadId;
            committedBeforeRecord = File.Exists(Path.Combine(c.Folder, "manifest.json"));
            recorded = c;
        });
        writer.WaitForInFlight();

        Assert.Equal(0, pause.WaitSeconds);
        Assert.True(pause.SnapshotSeconds > 0);
        Assert.NotNull(recorded);
        Assert.True(committedBeforeRecord, "the record ran before the checkpoint was committed");
        Assert.NotEqual(trainingThread, recordThread);
        Assert.Equal(store.FolderFor(2), recorded.Folder);
        Assert.Equal(sync.Parts, recorded.Manifest.Parts);
        Assert.Equal(sync.Parts, store.Open(2).Manifest.Parts);
    }

    [Fact]
    public async Task ANewCheckpointWaitsForTheOneInFlightAndSaysHowLong()
    {
        var store = Store("queue");
        using var writer = new AsyncCheckpointWriter(store, log);
        using var gate = new ManualResetEventSlim();
        var order = new List<string>();
        writer.Begin(() => BytesSnapshot(10, s => s.WriteByte(10)), (c, _) =>
        {
            gate.Wait(TimeSpan.FromSeconds(30));
            lock (order) order.Add($"record {c.Step}");
        });
        var release = Task.Run(async () =>
        {
            await Task.Delay(500);
            lock (order) order.Add("released");
            gate.Set();
        });

        var pause = writer.Begin(() =>
        {
            lock (order) order.Add("snapshot 20");
            return BytesSnapshot(20, s => s.WriteByte(20));
        }, (c, _) => { lock (order) order.Add($"record {c.Step}"); });
        writer.WaitForInFlight();
        await release;

        Assert.Equal(["released", "record 10", "snapshot 20", "record 20"], order);
        // Released 500 ms after the first write began; the second began at once, so it waited most of that.
        Assert.True(pause.WaitSeconds >= 0.2, $"waited {pause.WaitSeconds:F3} s");
        Assert.Contains(log.Entries.Select(e => e.Message), m => m.Contains("step 20") && m.Contains("waited") && m.Contains("step 10"));
        Assert.Equal([10L, 20L], store.List().Select(m => m.Step));
    }

    [Fact]
    public void AFailedWriteReachesTheNextStepBoundaryNamingTheFolderAndLeavesNothingComplete()
    {
        var store = Store("failing");
        using var writer = new AsyncCheckpointWriter(store, log);
        writer.Begin(() => BytesSnapshot(30, _ => throw new IOException("No space left on device")), (_, _) => Assert.Fail("recorded a failed write"));
        WaitUntilDone(writer);

        var failure = Assert.Throws<CheckpointWriteException>(writer.ThrowIfFailed);
        Assert.Equal(30, failure.Step);
        Assert.Equal(store.FolderFor(30), failure.Folder);
        Assert.Contains(store.FolderFor(30), failure.Message);
        Assert.Contains("could not be written: No space left on device", failure.Message);
        Assert.Empty(Directory.GetDirectories(store.Root));
        // Thrown once: the caller ends on it.
        writer.ThrowIfFailed();
    }

    [Fact]
    public void AFailedRecordIsAFailureTooAtTheEnd()
    {
        var store = Store("unrecorded");
        using var writer = new AsyncCheckpointWriter(store, log);
        writer.Begin(() => BytesSnapshot(40, s => s.WriteByte(40)), (_, _) => throw new TimeoutException("the checkpoint grain did not answer"));

        var failure = Assert.Throws<CheckpointWriteException>(() => writer.WaitForInFlight());
        Assert.Equal(store.FolderFor(40), failure.Folder);
        Assert.Contains("was written but could not be recorded: the checkpoint grain did not answer", failure.Message);
    }

    [Fact]
    public void DisposingGivesTheWriteInFlightUpWithoutARecord()
    {
        var store = Store("abandoned");
        var writer = new AsyncCheckpointWriter(store, log);
        using var started = new ManualResetEventSlim();
        bool recorded = false;
        writer.Begin(() => new CheckpointSnapshot(50,
            [
                // Long enough that the dispose lands while the first part is being written.
                ("first.bin", s => { started.Set(); Thread.Sleep(1000); s.WriteByte(1); }),
                ("second.bin", s => s.WriteByte(2)),
            ], new Dictionary<string, string>(), []),
            (_, _) => recorded = true);
        Assert.True(started.Wait(TimeSpan.FromSeconds(30)));

        writer.Dispose();

        Assert.False(recorded);
        Assert.Empty(Directory.GetDirectories(store.Root));
        Assert.Throws<ObjectDisposedException>(() => writer.Begin(() => BytesSnapshot(60, s => s.WriteByte(6)), (_, _) => { }));
    }

    [Fact]
    public void TheSnapshotFreesItsCopiesOnceWritten()
    {
        using var engine = TrainedEngine(steps: 1);
        var snapshot = TrainingCheckpoint.Snapshot(engine, StateAt(1), RunSpecPresets.Tiny());
        using var writer = new AsyncCheckpointWriter(Store("freed"), log);
        writer.Begin(() => snapshot, (_, _) => { });
        writer.WaitForInFlight();
        Assert.Throws<ObjectDisposedException>(() => snapshot.WriteTo(Store("again")));
        Assert.Contains(engine.Parameters.Values.shape, d => d > 0); // the engine's own tensors are untouched
    }

    private static void WaitUntilDone(AsyncCheckpointWriter writer)
    {
        // ThrowIfFailed never waits; the test gives the background the moment a step would.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (writer.IsWriting && DateTime.UtcNow < deadline) Thread.Sleep(10);
    }
}

/// <summary>Tests that compare libtorch's process-wide generator state taken at two moments (a checkpoint's rng part): they
/// run with no other test in parallel, since any model built meanwhile moves that generator.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalGeneratorCollection
{
    public const string Name = "libtorch's global generator";
}
