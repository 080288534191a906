using GrowLength.Grains.Hosting;
using GrowLength.Grains.Storage;
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

/// <summary>The commit protocol's last step and the one owner of a run's checkpoint records: rank 0 writes, flushes and
/// checksums the files (CheckpointStore), then records the manifest here. A checkpoint counts only once recorded, and is
/// used only if its files still verify. Pruning, of the records and of the folders by the store's one rule, happens here
/// and only after the new record is durable, so a crash in between never leaves a run without the checkpoint it records.</summary>
public sealed class CheckpointGrain(
    [PersistentState("checkpoints", GrowLengthStorage.Name)] IPersistentState<CheckpointGrainState> state,
    ILogger<CheckpointGrain> logger) : Grain, ICheckpointGrain
{
    /// <summary>How long a commit waits out a storage outage before it fails (its caller, a background writer, retries).</summary>
    public static readonly TimeSpan StoragePatience = TimeSpan.FromMinutes(10);

    private StateWriter<CheckpointGrainState>? writer;

    private string RunId => this.GetPrimaryKeyString();

    private StateWriter<CheckpointGrainState> Writer => writer ??= new(state, logger, $"the checkpoint records of {RunId}");

    public async Task Commit(CheckpointRecord record)
    {
        var keep = Math.Max(1, record.KeepLast);
        var (kept, _) = CheckpointStore.Retention(state.State.Records.Select(r => r.Step), record.Step, keep);
        state.State.Records = state.State.Records.Where(r => r.Step != record.Step && kept.Contains(r.Step)).Append(record).OrderBy(r => r.Step).ToList();
        // Through an outage: the files are written, and the record (then the pruning) waits for the storage to come back.
        await Writer.WriteThrough(StoragePatience);
        logger.LogInformation("Checkpoint of {Run} at step {Step} committed ({Folder})", RunId, record.Step, record.Folder);
        var root = Path.GetDirectoryName(record.Folder)!;
        await Task.Run(() => new CheckpointStore(root, keep, logger).Prune(record.Step));
        await GrainFactory.GetGrain<IScheduleCoordinatorGrain>(RunId).CheckpointCommitted(record);
    }

    public async Task<CheckpointRecord?> Latest() => (await Choose()).Latest;

    public Task<CheckpointChoice> Choose()
    {
        var newestFirst = state.State.Records.OrderByDescending(r => r.Step).ToList();
        var runId = RunId;
        // Hashing the files is I/O of seconds for a large model: off the grain's scheduler.
        return Task.Run(() =>
        {
            var refused = new List<CheckpointRefusal>();
            for (int i = 0; i < newestFirst.Count; i++)
            {
                var record = newestFirst[i];
                try
                {
                    CheckpointStore.Verify(record.Folder, CheckpointManifest.Parse(record.ManifestJson, record.Folder));
                    return new CheckpointChoice(record, [.. refused]);
                }
                catch (RunInputException e)
                {
                    refused.Add(new CheckpointRefusal(record.Step, record.Folder, e.Message));
                    var fallback = i + 1 < newestFirst.Count ? $"falling back to step {newestFirst[i + 1].Step}" : "no earlier checkpoint to fall back to";
                    logger.LogWarning("Checkpoint of {Run} at step {Step} is unusable ({Problem}); {Fallback}", runId, record.Step, e.Message, fallback);
                }
            }
            return new CheckpointChoice(null, [.. refused]);
        });
    }

    public Task<CheckpointRecord[]> List() => Task.FromResult(state.State.Records.ToArray());
}
