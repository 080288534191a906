using GrowLength.Grains;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;

namespace GrowLength.Cluster.Tests;

/// <summary>The checkpoint records as the one truth about a run's checkpoints: folders are pruned only after a new record.</summary>
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

        // Recorded, the retention rule applies: records and folders at or before step 30, the last 2.
        await grain.Commit(new CheckpointRecord(30, store.FolderFor(30), manifest.ToJson(), KeepLast: 2));
        Assert.Equal([24L, 30L], (await grain.List()).Select(r => r.Step));
        Assert.False(Directory.Exists(records[0].Folder), "step 20 outlived the retention of the last 2");
        Assert.True(Directory.Exists(records[1].Folder));
    }
}
