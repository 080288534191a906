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
    private StateWriter<CheckpointGrainState>? writer;

    // Records accepted while the storage was away (PostgreSQL restarting): written, then pruned by and announced to the
    // coordinator, once it is back. Their files are on disk and verify, so they serve a reload meanwhile.
    private readonly List<CheckpointRecord> owed = [];
    private IGrainTimer? retry;

    private string RunId => this.GetPrimaryKeyString();

    private StateWriter<CheckpointGrainState> Writer => writer ??= new(state, logger, $"the checkpoint records of {RunId}");

    /// <summary>Records a checkpoint whose files are written. Returns at once even while the storage is away: the record
    /// is then owed (and retried with backoff), so the writer, and the next checkpoint, never wait for the database.</summary>
    public async Task Commit(CheckpointRecord record)
    {
        var keep = Math.Max(1, record.KeepLast);
        var (kept, _) = CheckpointStore.Retention(state.State.Records.Select(r => r.Step), record.Step, keep);
        state.State.Records = state.State.Records.Where(r => r.Step != record.Step && kept.Contains(r.Step)).Append(record).OrderBy(r => r.Step).ToList();
        owed.Add(record);
        await WriteOwed();
    }

    private async Task WriteOwed()
    {
        if (owed.Count == 0) return;
        if (!await Writer.TryWrite())
        {
            var delay = Writer.RetryDelay;
            if (retry is null) retry = this.RegisterGrainTimer(_ => WriteOwed(), new GrainTimerCreationOptions(delay, delay) { KeepAlive = true });
            else retry.Change(delay, delay);
            return;
        }
        retry?.Dispose();
        retry = null;
        var durable = owed.ToList();
        owed.Clear();
        foreach (var record in durable)
        {
            logger.LogInformation("Checkpoint of {Run} at step {Step} committed ({Folder})", RunId, record.Step, record.Folder);
            // Pruning only now that the record is durable: a crash before it leaves the older checkpoints in place.
            var root = Path.GetDirectoryName(record.Folder)!;
            await Task.Run(() => new CheckpointStore(root, Math.Max(1, record.KeepLast), logger).Prune(record.Step));
            await GrainFactory.GetGrain<IScheduleCoordinatorGrain>(RunId).CheckpointCommitted(record);
        }
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
