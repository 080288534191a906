using GrowLength.Grains.Hosting;
using GrowLength.Grains.Placement;
using GrowLength.Grains.Workers;
using GrowLength.Training.Checkpoints;
using Microsoft.Extensions.Logging;

namespace GrowLength.Grains;

/// <summary>Control plane of one compute slot: starts the training loop on this silo's device host, hands it gradient
/// chunks and epoch changes, and serves its state copy to joiners. Always active, so the activation (and every message
/// to it) stays beside its loop.</summary>
[DeviceSlotPlacement]
[CollectionAgeLimit(AlwaysActive = true)]
public sealed class WorkerGrain(DeviceSlotHost host, GradientListener listener, ILogger<WorkerGrain> logger) : Grain, IWorkerGrain
{
    /// <summary>How long a state request waits for the donor's copy before the joiner asks again.</summary>
    private static readonly TimeSpan StateWait = TimeSpan.FromSeconds(5);

    private string Key => this.GetPrimaryKeyString();

    public Task<WorkerInfo> Start(WorkerAssignment assignment)
    {
        if (WorkerKeys.For(assignment.RunId, assignment.Worker) != Key)
            throw new ArgumentException($"assignment for worker {WorkerKeys.For(assignment.RunId, assignment.Worker)} sent to worker {Key}");
        // Before it takes a slot: a silo that does not reach the run's checkpoint storage could neither resume from it nor
        // (as rank 0) write to it, and the run's ledger lives there too.
        if (assignment.FolderToken is { } token && RunFolderMarker.Problem(assignment.CheckpointFolder, token) is { } problem)
        {
            logger.LogError("Silo {Silo} refuses worker {Worker} of {Run}: {Problem}", host.SiloName, assignment.Worker, assignment.RunId, problem);
            throw new RunRequestException($"{GrowLengthSiloOptions.Section}:CheckpointFolder",
                $"silo {host.SiloName} cannot reach the checkpoints of run {assignment.RunId}: {problem}. Checkpoints must be on storage every silo reaches at the same path (README: shared checkpoint storage).");
        }
        // Off the grain scheduler: a start may wait seconds for a slot whose loop is ending (DeviceSlotHost.Start).
        return Task.Run(() => host.Start(assignment));
    }

    public Task ReceiveChunk(GradientChunk chunk)
    {
        // A worker with no loop here (its silo restarted, the grain was placed anew) fails the sender's exchange at once.
        var loop = host.Find(Key) is { IsRunning: true } l ? l : throw new InvalidOperationException($"worker {Key} has no training loop on silo {host.SiloName}");
        loop.Inbox.Deliver(chunk);
        return Task.CompletedTask;
    }

    public Task<ExchangeEndpoint> ExchangeEndpoint()
    {
        var loop = host.Find(Key) is { IsRunning: true } l ? l : throw new InvalidOperationException($"worker {Key} has no training loop on silo {host.SiloName}");
        var endpoint = listener.Endpoint;
        return Task.FromResult(new ExchangeEndpoint(host.SiloName, endpoint?.Address.ToString() ?? "", endpoint?.Port ?? 0, loop.ExchangeToken));
    }

    public Task Abort(long epoch, string reason)
    {
        if (host.Find(Key) is { } loop && loop.Epoch <= epoch) loop.Cancel();
        return Task.CompletedTask;
    }

    public Task EndEpoch(long epoch)
    {
        host.Find(Key)?.EndEpoch(epoch);
        return Task.CompletedTask;
    }

    public async Task<StatePart> FetchState(long epoch, int part)
    {
        var loop = host.Find(Key) is { IsRunning: true } l ? l : throw new InvalidOperationException($"worker {Key} has no training loop on silo {host.SiloName}");
        var copy = await loop.Donation(epoch).WaitAsync(StateWait);
        return copy.Part(part);
    }

    public Task<WorkerStatus> Status() =>
        Task.FromResult(host.Find(Key)?.Status(host.SiloName)
            ?? new WorkerStatus(-1, -1, host.SiloName, "", 0, false, "no training loop on this silo", [], [], double.NaN, WorkerKeys.WorkerOf(Key)));
}
