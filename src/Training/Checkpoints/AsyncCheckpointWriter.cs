using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Checkpoints;

/// <summary>A checkpoint the background writer committed.</summary>
/// <param name="Folder">its folder, <c>step-&lt;12 digits&gt;</c> under the store's root.</param>
/// <param name="WriteSeconds">writing, fsyncing and hashing its parts and committing its manifest, off the training thread.</param>
public sealed record CommittedCheckpoint(long Step, string Folder, CheckpointManifest Manifest, double WriteSeconds);

/// <summary>What taking a checkpoint cost the training thread.</summary>
/// <param name="WaitSeconds">waiting for the previous checkpoint's write and record, still in flight (0 when it was done).</param>
/// <param name="SnapshotSeconds">copying the state to host memory.</param>
public readonly record struct CheckpointPause(double WaitSeconds, double SnapshotSeconds)
{
    /// <summary>The whole pause.</summary>
    public double Seconds => WaitSeconds + SnapshotSeconds;
}

/// <summary>Writes a run's checkpoints in the background, one at a time, while training goes on: the one piece of code the
/// bare Trainer and every cluster worker checkpoint through.</summary>
/// <remarks>
/// At a step boundary the training thread calls <see cref="Begin"/>: it waits for the write in flight (at most one, so
/// host memory holds one snapshot), copies the state to host memory (<see cref="CheckpointSnapshot"/>, the only pause
/// training sees when the previous write is done) and returns. A background task then writes, fsyncs and hashes the
/// parts, commits the manifest, frees the copy, and records the checkpoint with the caller's <c>record</c> (the checkpoint
/// grain, or pruning where the process owns its folders), so the record never waits on the training thread either.
/// The files are byte for byte those <c>TrainingCheckpoint.Save</c> writes from the same state. A failure is kept and
/// thrown on the training thread at its next call (<see cref="ThrowIfFailed"/> at every step boundary,
/// <see cref="Begin"/>, <see cref="WaitForInFlight"/> at the end) as a <see cref="CheckpointWriteException"/> naming the
/// folder. <see cref="Dispose"/> gives a write in flight up. Every member is for the training thread only.
/// </remarks>
public sealed class AsyncCheckpointWriter(CheckpointStore store, ILogger? logger = null) : IDisposable
{
    /// <summary>How long <see cref="Dispose"/> waits for a write it gave up to stop (it stops before its next part).</summary>
    private static readonly TimeSpan AbandonWait = TimeSpan.FromSeconds(30);

    private readonly ILogger logger = logger ?? NullLogger.Instance;
    private readonly CancellationTokenSource abandon = new();
    private (long Step, Task<CommittedCheckpoint> Write)? inFlight;
    private bool disposed;

    /// <summary>The store the checkpoints go to.</summary>
    public CheckpointStore Store { get; } = store ?? throw new ArgumentNullException(nameof(store));

    /// <summary>A write (or its record) is under way in the background.</summary>
    public bool IsWriting => inFlight is { Write.IsCompleted: false };

    /// <summary>Takes a checkpoint at a step boundary: waits for the write in flight (throwing its failure), copies the
    /// state with <paramref name="takeSnapshot"/>, and starts writing it in the background. <paramref name="record"/> runs
    /// there once the checkpoint is committed; it is given a token that is cancelled when the write is given up.</summary>
    /// <param name="cancel">ends the wait for the previous write (the loop is aborted).</param>
    /// <returns>what the checkpoint cost the training thread.</returns>
    public CheckpointPause Begin(Func<CheckpointSnapshot> takeSnapshot, Action<CommittedCheckpoint, CancellationToken> record, CancellationToken cancel = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(takeSnapshot);
        ArgumentNullException.ThrowIfNull(record);
        var busy = inFlight is { Write.IsCompleted: false } previous ? previous.Step : (long?)null;
        var clock = Stopwatch.StartNew();
        WaitForInFlight(cancel);
        var waited = busy is null ? 0 : clock.Elapsed.TotalSeconds;
        clock.Restart();
        var snapshot = takeSnapshot();
        var copied = clock.Elapsed.TotalSeconds;
        if (busy is { } step)
            logger.LogInformation("The checkpoint of step {Step} waited {Seconds:F3} s for the write of step {Previous} to finish", snapshot.Step, waited, step);
        // A thread of its own: the write blocks on fsync and the record on a grain call, which the pool should not absorb.
        inFlight = (snapshot.Step, Task.Factory.StartNew(() => Write(snapshot, record), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default));
        return new CheckpointPause(waited, copied);
    }

    /// <summary>Throws the failure of a finished write, if any; never waits. Called at every step boundary.</summary>
    public void ThrowIfFailed()
    {
        if (inFlight is not { Write.IsCompleted: true } done) return;
        // Thrown once: the caller ends on it.
        inFlight = null;
        done.Write.GetAwaiter().GetResult();
    }

    /// <summary>Waits for the write in flight and its record, and throws its failure: the run's last checkpoint is on disk
    /// and recorded when this returns.</summary>
    /// <param name="cancel">ends the wait (the loop is aborted); the write goes on until <see cref="Dispose"/>.</param>
    public void WaitForInFlight(CancellationToken cancel = default)
    {
        if (inFlight is not { } pending) return;
        try
        {
            pending.Write.WaitAsync(cancel).GetAwaiter().GetResult();
        }
        finally
        {
            // A failure is thrown once; a wait that was cancelled leaves the write in flight.
            if (pending.Write.IsCompleted) inFlight = null;
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the write in flight and its record without throwing: the loop
    /// is ending for another reason (a failure already on its way to the caller, a silo shutting down), and the write's
    /// own failure could only hide that one, so it is logged. True when nothing is left in flight.</summary>
    public bool Settle(TimeSpan timeout)
    {
        if (inFlight is not { } pending) return true;
        try
        {
            if (!pending.Write.Wait(timeout))
            {
                logger.LogWarning("The checkpoint of step {Step} was still being written after {Seconds:F0} s; it is given up", pending.Step, timeout.TotalSeconds);
                return false;
            }
        }
        catch (AggregateException e)
        {
            logger.LogError(e.InnerException, "The checkpoint of step {Step} failed while the loop was ending: {Problem}", pending.Step, e.InnerException?.Message);
        }
        inFlight = null;
        return true;
    }

    /// <summary>Gives a write in flight up: it stops before its next part (its partial folder deleted) or, when already
    /// committed, before its record; waits for it to stop.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        abandon.Cancel();
        if (inFlight is { Write.IsCompleted: false } pending)
        {
            logger.LogInformation("Giving up the checkpoint of step {Step}, still being written", pending.Step);
            // Whatever it ends with no longer matters to anyone.
            if (!((IAsyncResult)pending.Write).AsyncWaitHandle.WaitOne(AbandonWait))
            {
                logger.LogWarning("The checkpoint write of step {Step} did not stop within {Seconds:F0} s", pending.Step, AbandonWait.TotalSeconds);
                return; // it still reads the token: the source is left to the collector
            }
        }
        abandon.Dispose();
    }

    private CommittedCheckpoint Write(CheckpointSnapshot snapshot, Action<CommittedCheckpoint, CancellationToken> record)
    {
        var folder = Store.FolderFor(snapshot.Step);
        var clock = Stopwatch.StartNew();
        CheckpointManifest manifest;
        try
        {
            manifest = snapshot.WriteTo(Store, abandon.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new CheckpointWriteException(snapshot.Step, folder, $"could not be written: {e.Message}", e);
        }
        finally
        {
            // The host copy (three times the model) goes as soon as the files hold it, not after the record.
            snapshot.Dispose();
        }
        var committed = new CommittedCheckpoint(snapshot.Step, folder, manifest, clock.Elapsed.TotalSeconds);
        abandon.Token.ThrowIfCancellationRequested();
        try
        {
            record(committed, abandon.Token);
        }
        catch (Exception e) when (!(e is OperationCanceledException && abandon.IsCancellationRequested))
        {
            throw new CheckpointWriteException(snapshot.Step, folder, $"was written but could not be recorded: {e.Message}", e);
        }
        return committed;
    }
}
