using GrowLength.Grains.Placement;
using GrowLength.Grains.Workers;

namespace GrowLength.Grains;

/// <summary>Control plane of one compute slot: starts the training loop on this silo's device host and hands it gradient
/// chunks. Always active, so the activation (and every message to it) stays beside its loop.</summary>
[DeviceSlotPlacement]
[CollectionAgeLimit(AlwaysActive = true)]
public sealed class WorkerGrain(DeviceSlotHost host) : Grain, IWorkerGrain
{
    private string Key => this.GetPrimaryKeyString();

    public Task<WorkerInfo> Start(WorkerAssignment assignment)
    {
        if (WorkerKeys.For(assignment.RunId, assignment.Rank) != Key)
            throw new ArgumentException($"assignment for worker {WorkerKeys.For(assignment.RunId, assignment.Rank)} sent to worker {Key}");
        return Task.FromResult(host.Start(assignment));
    }

    public Task ReceiveChunk(GradientChunk chunk)
    {
        Loop(chunk.Epoch).Inbox.Deliver(chunk);
        return Task.CompletedTask;
    }

    public Task Abort(long epoch, string reason)
    {
        if (host.Find(Key) is { } loop && loop.Assignment.Epoch == epoch) loop.Cancel();
        return Task.CompletedTask;
    }

    public Task<WorkerStatus> Status() =>
        Task.FromResult(host.Find(Key)?.Status(host.SiloName)
            ?? new WorkerStatus(WorkerKeys.RankOf(Key), -1, host.SiloName, "", 0, false, "no training loop on this silo", [], [], double.NaN));

    private WorkerLoop Loop(long epoch)
    {
        var loop = host.Find(Key) ?? throw new InvalidOperationException($"worker {Key} has no training loop on silo {host.SiloName}");
        if (loop.Assignment.Epoch != epoch)
            throw new InvalidOperationException($"worker {Key} runs membership epoch {loop.Assignment.Epoch}, the message is for epoch {epoch}");
        return loop;
    }
}
