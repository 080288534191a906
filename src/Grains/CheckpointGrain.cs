using GrowLength.Grains.Hosting;
using GrowLength.Training;
using GrowLength.Training.Checkpoints;
using Microsoft.Extensions.Logging;

namespace GrowLength.Grains;

/// <summary>Durable list of a run's committed checkpoints.</summary>
public sealed class CheckpointGrainState
{
    /// <summary>Oldest step first.</summary>
    public List<CheckpointRecord> Records { get; set; } = [];
}

/// <summary>The commit protocol's last step: rank 0 writes, flushes and checksums the files (CheckpointStore), then records
/// the manifest here. A checkpoint counts only once recorded, and is used only if its files still verify.</summary>
public sealed class CheckpointGrain(
    [PersistentState("checkpoints", GrowLengthStorage.Name)] IPersistentState<CheckpointGrainState> state,
    ILogger<CheckpointGrain> logger) : Grain, ICheckpointGrain
{
    public async Task Commit(CheckpointRecord record)
    {
        // Same pruning as CheckpointStore: later steps belong to an abandoned continuation, and only the last K are kept.
        var records = state.State.Records.Where(r => r.Step < record.Step).Append(record).ToList();
        state.State.Records = records.Skip(Math.Max(0, records.Count - Math.Max(1, record.KeepLast))).ToList();
        await state.WriteStateAsync();
        logger.LogInformation("Checkpoint of {Run} at step {Step} committed ({Folder})", this.GetPrimaryKeyString(), record.Step, record.Folder);
    }

    public async Task<CheckpointRecord?> Latest()
    {
        var newestFirst = state.State.Records.OrderByDescending(r => r.Step).ToList();
        var runId = this.GetPrimaryKeyString();
        return await Task.Run(() =>
        {
            for (int i = 0; i < newestFirst.Count; i++)
            {
                var record = newestFirst[i];
                try
                {
                    CheckpointStore.Verify(record.Folder, CheckpointManifest.Parse(record.ManifestJson, record.Folder));
                    return record;
                }
                catch (RunInputException e)
                {
                    var fallback = i + 1 < newestFirst.Count ? $"falling back to step {newestFirst[i + 1].Step}" : "no earlier checkpoint to fall back to";
                    logger.LogWarning("Checkpoint of {Run} at step {Step} is unusable ({Problem}); {Fallback}", runId, record.Step, e.Message, fallback);
                }
            }
            return null;
        });
    }

    public Task<CheckpointRecord[]> List() => Task.FromResult(state.State.Records.ToArray());
}
