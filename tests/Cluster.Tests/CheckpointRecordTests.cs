using GrowLength.Grains;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Run;

namespace GrowLength.Cluster.Tests;

/// <summary>The checkpoint records as the one truth about a run's checkpoints: folders are pruned only after a new record,
/// and a run whose records all fail verification never starts over from step 0 unless asked to.</summary>
public sealed class CheckpointRecordTests(OneSiloCluster fixture) : IClassFixture<OneSiloCluster>
{
    [Fact]
    public async Task NewCheckpointFilesDeleteNothingUntilTheirRecordIsCommitted()
    {
        // Tiny: checkpoints at 5, 8, 10, 15, 16, 20, 24; the grain keeps the last 2.
        ClusterFixture.AssertCompleted(await fixture.RunToEnd("prune-after-record", 1));
        var grain = fixture.Grains.GetGrain<ICheckpointGrain>("prune-after-record");
        var records = await grain.List();
        Assert.Equal([20L, 24L], records.Select(r => r.Step));
        var root = Path.GetDirectoryName(records[0].Folder)!;

        // Rank 0 of a later continuation wrote step 30's files and died before recording them (a store that keeps only 1).
        var store = new CheckpointStore(root, 1);
        CheckpointManifest manifest;
        using (var writer = store.BeginWrite(30))
        {
            writer.WritePart(TrainingCheckpoint.ModelPart, s => s.Write(new byte[64]));
            manifest = writer.Commit();
        }
        Assert.All(records, r => Assert.True(Directory.Exists(r.Folder), $"{r.Folder} was deleted before any record of step 30"));
        Assert.Equal(24, (await grain.Latest())?.Step);

        // Recorded (as rank 0's silo records it: a client may not), the retention rule applies: records and folders at
        // or before step 30, the last 2.
        await fixture.InsideGrains.GetGrain<ICheckpointGrain>("prune-after-record").Commit(new CheckpointRecord(30, store.FolderFor(30), manifest.ToJson(), KeepLast: 2));
        Assert.Equal([24L, 30L], (await grain.List()).Select(r => r.Step));
        Assert.False(Directory.Exists(records[0].Folder), "step 20 outlived the retention of the last 2");
        Assert.True(Directory.Exists(records[1].Folder));
    }

    [Fact]
    public async Task AResumeWithNoCheckpointThatVerifiesIsRefusedListingEachAndStartOverBeginsAtStepZero()
    {
        var (trainer, _, _) = fixture.TrainBare();
        using var _ = trainer;
        const string id = "unverifiable";
        var coordinator = fixture.Grains.GetGrain<IScheduleCoordinatorGrain>(id);
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(fixture.Spec)));
        await coordinator.Start(new StartRun(1));
        await ClusterFixture.WaitWhileRunning(coordinator, s => s.Step >= 11);
        await coordinator.Stop();
        var stopped = await ClusterFixture.WaitWhileRunning(coordinator);
        Assert.Equal(RunLifecycle.Stopped, stopped.Lifecycle);

        // While a checkpoint verifies, starting over is refused: resume continues from it.
        var notNeeded = await Assert.ThrowsAsync<RunRequestException>(() => coordinator.Resume(new StartRun(1, StartOver: true)));
        Assert.Equal("--start-over", notNeeded.Subject);
        Assert.Contains($"at step {stopped.Step}", notNeeded.Problem);

        var records = await fixture.Grains.GetGrain<ICheckpointGrain>(id).List();
        Assert.True(records.Length >= 2, $"records: {string.Join(", ", records.Select(r => r.Step))}");
        foreach (var r in records)
        {
            var model = Path.Combine(r.Folder, TrainingCheckpoint.ModelPart);
            var bytes = File.ReadAllBytes(model);
            bytes[bytes.Length / 2] ^= 0x01;
            File.WriteAllBytes(model, bytes);
        }

        var refused = await Assert.ThrowsAsync<RunRequestException>(() => coordinator.Resume(new StartRun(1)));
        Assert.Equal(id, refused.Subject);
        foreach (var r in records)
            Assert.Contains($"step {r.Step} ({r.Folder}): {Path.Combine(r.Folder, TrainingCheckpoint.ModelPart)}: checksum mismatch", refused.Problem);
        Assert.Contains($"growlength resume {id} --start-over", refused.Problem);
        var unchanged = await coordinator.Status();
        Assert.Equal((RunLifecycle.Stopped, stopped.Step, stopped.Epoch, stopped.LastCheckpointStep),
            (unchanged.Lifecycle, unchanged.Step, unchanged.Epoch, unchanged.LastCheckpointStep));

        var restarted = await coordinator.Resume(new StartRun(1, StartOver: true));
        Assert.Equal(0, restarted.Step);
        var over = Assert.Single(await coordinator.Events(0), e => e.Kind == RunEventKind.StartedOver);
        Assert.StartsWith("started over from step 0 on request (--start-over): no recorded checkpoint verified: ", over.Message);
        Assert.All(records, r => Assert.Contains(r.Folder, over.Message));

        // From step 0 deliberately, it is the uninterrupted run: the same final weights, and only its own checkpoints left.
        var done = await ClusterFixture.WaitWhileRunning(coordinator);
        ClusterFixture.AssertCompleted(done);
        Assert.Equal(24, done.Step);
        Assert.Equal(0, await Compare.MaxWeightDifference(fixture.Grains, id, trainer));
        var after = await fixture.Grains.GetGrain<ICheckpointGrain>(id).Choose();
        Assert.Equal(24, after.Latest?.Step);
        Assert.Empty(after.Refused);
    }
}
