namespace GrowLength.Grains;

/// <summary>What the coordinator hands a worker for its next step.</summary>
[GenerateSerializer, Alias("growlength.StepOrderKind")]
public enum StepOrderKind
{
    /// <summary>Train <see cref="StepOrder.Plan"/>.</summary>
    Train = 0,
    /// <summary>The budget is spent: save (rank 0, when asked) and finish.</summary>
    Finish = 1,
    /// <summary>A graceful stop: save (rank 0, when asked) and stop.</summary>
    Stop = 2,
    /// <summary>The worker is no longer a member (it fell behind, was scaled away, or the run failed or ended): its loop
    /// ends at once without saving.</summary>
    Abort = 3,
}

/// <summary>The workers of one membership epoch, by rank: a worker's rank is its index here. Workers keep their id (the
/// key of their worker grain, "run id/worker id") across epochs; only their rank and the world size change.</summary>
[GenerateSerializer, Alias("growlength.Membership")]
public sealed record Membership([property: Id(0)] long Epoch, [property: Id(1)] long[] Workers)
{
    public int WorldSize => Workers.Length;

    /// <summary>The worker's rank in this epoch, -1 when it is not a member.</summary>
    public int RankOf(long worker) => Array.IndexOf(Workers, worker);
}

/// <summary>One step's plan, as the run's control loop decided it. A stage transition is not in it: the coordinator
/// broadcasts it once as a <see cref="RunEvent"/>, and the step only carries its length.</summary>
[GenerateSerializer, Alias("growlength.StepPlanMessage")]
public sealed record StepPlanMessage(
    [property: Id(0)] long Step, [property: Id(1)] int Stage, [property: Id(2)] int Length, [property: Id(3)] int Rows,
    [property: Id(4)] long StreamOffset, [property: Id(5)] long Tokens, [property: Id(6)] double LearningRate,
    [property: Id(7)] int MicroBatchRows);

/// <summary>The coordinator's answer to a worker's request for its next step, stamped with the membership epoch.</summary>
/// <remarks>A worker applies a step's update only when an order says so (<see cref="ApplyHeld"/>), and the coordinator says
/// so only once every rank of the epoch reported the step, that is once every rank holds the whole reduced gradient. A
/// failure at any moment of a step therefore leaves every survivor with the same parameters: all applied it or none did.</remarks>
/// <param name="Membership">the epoch's workers by rank; a worker whose epoch is older adopts it (new rank, new ring).</param>
/// <param name="ApplyHeld">the worker holds the reduced gradient of the step it reported and that step is committed:
/// apply it before anything else. False while it holds one means the step was aborted: discard it and train the step again.</param>
/// <param name="Evaluate">rank 0 measures a validation point (after <see cref="ApplyHeld"/>, before the checkpoint and the
/// step) and reports it; the other ranks get their order once it is in, so it never counts as training time.</param>
/// <param name="Donate">this worker copies its parameters and optimizer state to host memory before training, for the
/// workers that join in this epoch (<see cref="IWorkerGrain.FetchState"/>).</param>
/// <param name="Donor">for a worker joining with no state: the worker to copy it from (-1: none).</param>
/// <param name="DeadlineSeconds">how long any wait of this step (rows, ring chunks) may last before the step is given up.</param>
/// <param name="CheckpointStateJson">when set, rank 0 first saves a checkpoint of this TrainingState (JSON, the
/// checkpoint's state.json) with its current weights, which are those after the step the state counts.</param>
[GenerateSerializer, Alias("growlength.StepOrder")]
public sealed record StepOrder(
    [property: Id(0)] StepOrderKind Kind, [property: Id(1)] long Epoch, [property: Id(2)] StepPlanMessage? Plan,
    [property: Id(3)] string? CheckpointStateJson, [property: Id(4)] long CheckpointStep, [property: Id(5)] Membership? Membership,
    [property: Id(6)] bool ApplyHeld = false, [property: Id(7)] bool Evaluate = false, [property: Id(8)] bool Donate = false,
    [property: Id(9)] long Donor = -1, [property: Id(10)] double DeadlineSeconds = 0, [property: Id(11)] string? Reason = null);

/// <summary>One rank's account of a step, sent once it holds the step's whole reduced gradient (before applying it).</summary>
/// <param name="ParameterChecksum">checksum of the parameters the rank trained the step from (after every earlier
/// update): ranks that differ fail the run, and a worker that joined proves its copy with its first report.</param>
/// <param name="GradNorm">norm of the reduced gradient before clipping.</param>
/// <param name="FirstRow">the first of the step's rows this rank trained; it trained rows FirstRow, FirstRow + RowStride, …
/// (<paramref name="RowCount"/> of them), as its row request asked (the ledger's account of the step's token blocks).</param>
[GenerateSerializer, Alias("growlength.StepReport")]
public sealed record StepReport(
    [property: Id(0)] long Worker, [property: Id(1)] long Epoch, [property: Id(2)] long Step, [property: Id(3)] int Length,
    [property: Id(4)] double LossSum, [property: Id(5)] long Tokens, [property: Id(6)] double Seconds,
    [property: Id(7)] double DataWaitSeconds, [property: Id(8)] double ExchangeSeconds, [property: Id(9)] double GradNorm,
    [property: Id(10)] ulong ParameterChecksum, [property: Id(11)] int Rank, [property: Id(12)] int FirstRow,
    [property: Id(13)] int RowStride, [property: Id(14)] int RowCount, [property: Id(15)] double ExchangeWorkSeconds = 0);

/// <summary>What a worker grain needs to start its training loop.</summary>
/// <param name="Worker">the worker's id (its grain key is "run id/worker id").</param>
/// <param name="Membership">the epoch it starts in, or null for a worker that joins a running epoch: it prepares (model,
/// preflight, data), says so (<see cref="IScheduleCoordinatorGrain.JoinReady"/>) and copies the state from a peer when
/// the coordinator adds it at a step boundary.</param>
/// <param name="Resume">the checkpoint to load weights and optimizer from, as the checkpoint grain verified it (the
/// worker does not verify it again), or null to start fresh (or to join from a peer).</param>
[GenerateSerializer, Alias("growlength.WorkerAssignment")]
public sealed record WorkerAssignment(
    [property: Id(0)] string RunId, [property: Id(1)] long Worker, [property: Id(2)] Membership? Membership,
    [property: Id(4)] string SpecJson, [property: Id(5)] string CheckpointFolder, [property: Id(6)] CheckpointRecord? Resume,
    [property: Id(7)] int ChunkBytes, [property: Id(8)] string? FolderToken = null)
{
    /// <summary>The step training starts from (a joiner learns its step from its donor).</summary>
    public long FirstStep => Resume?.Step ?? 0;

    /// <summary>True for a worker that joins a running epoch and copies its state from a peer.</summary>
    public bool Joins => Membership is null;
}

/// <summary>One part of a worker's parameters and optimizer state, copied to a joining worker. The parts, in order, are
/// the flat parameters, the first moments and the second moments as fp32 little-endian bytes.</summary>
/// <param name="Step">completed steps of the state (the step the joiner trains first).</param>
/// <param name="OptimizerSteps">AdamW's step count.</param>
/// <param name="Checksum">checksum of the whole state (parameters, then both moments) as the donor computed it.</param>
[GenerateSerializer, Immutable, Alias("growlength.StatePart")]
public sealed record StatePart(
    [property: Id(0)] int Part, [property: Id(1)] int Parts, [property: Id(2)] byte[] Data, [property: Id(3)] long Step,
    [property: Id(4)] long OptimizerSteps, [property: Id(5)] ulong Checksum, [property: Id(6)] long TotalBytes);

/// <summary>A worker's own view, for status and tests.</summary>
/// <param name="Events">the run events this worker's loop heard (the coordinator's broadcast), oldest first.</param>
/// <param name="PreflightSeconds">the forward/backward at the maximum length with a full micro-batch that every loop runs
/// before its first step (so an out-of-memory shows at once); NaN until it has run.</param>
[GenerateSerializer, Alias("growlength.WorkerStatus")]
public sealed record WorkerStatus(
    [property: Id(0)] int Rank, [property: Id(1)] long Epoch, [property: Id(2)] string Silo, [property: Id(3)] string Device,
    [property: Id(4)] long CompletedSteps, [property: Id(5)] bool Running, [property: Id(6)] string? Error,
    [property: Id(7)] RunEvent[] Events, [property: Id(8)] long[] LengthSwitchSteps, [property: Id(9)] double PreflightSeconds, [property: Id(10)] long Worker = -1);

/// <summary>One piece of a ring all-reduce of one gradient bucket: fp32 gradient elements as little-endian bytes.
/// Immutable, so a call to a worker on the same silo passes the array without a copy; the receiver owns it from then on
/// (and gives it to the silo's chunk pool once summed).</summary>
[GenerateSerializer, Immutable, Alias("growlength.GradientChunk")]
public sealed record GradientChunk(
    [property: Id(0)] long Epoch, [property: Id(1)] long Step, [property: Id(6)] int Bucket, [property: Id(2)] int Round,
    [property: Id(3)] int Segment, [property: Id(4)] int Chunk, [property: Id(5)] byte[] Data);

/// <summary>Where a worker takes gradient chunks: its silo, and that silo's data-plane listener (Port 0: none, send them as
/// grain calls) with the worker's token.</summary>
[GenerateSerializer, Immutable, Alias("growlength.ExchangeEndpoint")]
public sealed record ExchangeEndpoint([property: Id(0)] string Silo, [property: Id(1)] string Host, [property: Id(2)] int Port, [property: Id(3)] byte[] Token);

/// <summary>A worker's rows of one step: global rows rank, rank + W, … of [StreamOffset, + Rows·Length).</summary>
[GenerateSerializer, Alias("growlength.RowRequest")]
public sealed record RowRequest(
    [property: Id(0)] long StreamOffset, [property: Id(1)] int Length, [property: Id(2)] int Rows,
    [property: Id(3)] int Rank, [property: Id(4)] int WorldSize);

/// <summary>A worker's rows: each row is Length + 1 stream tokens (inputs are the first Length, targets the last Length)
/// as little-endian int32 bytes. byte[] because Orleans moves it ~5x faster than int[]/long[] (measured client to silo over loopback: 0.6–0.84 GB/s against 0.07–0.2 GB/s).</summary>
[GenerateSerializer, Immutable, Alias("growlength.RowBatch")]
public sealed record RowBatch([property: Id(0)] int Rows, [property: Id(1)] int Length, [property: Id(2)] byte[] Tokens, [property: Id(3)] bool Prefetched);

/// <summary>The run's held-out validation windows of one length (ValidationWindows.ReadAll): where each starts in the
/// validation split, and its Length + 1 tokens as little-endian int32 bytes, window after window.</summary>
[GenerateSerializer, Immutable, Alias("growlength.ValidationBatch")]
public sealed record ValidationBatch([property: Id(0)] int Length, [property: Id(1)] long[] Starts, [property: Id(2)] byte[] Tokens);

/// <summary>A committed checkpoint as the checkpoint grain records it: the manifest JSON is what makes it complete.</summary>
/// <param name="StateJson">the training state the checkpoint holds (its state.json): a resume reads progress from here
/// rather than opening the files again. Null in records written before it was added.</param>
/// <param name="Epoch">the membership epoch whose rank 0 wrote it.</param>
/// <param name="WriteSeconds">how long writing, flushing and hashing the files took.</param>
[GenerateSerializer, Alias("growlength.CheckpointRecord")]
public sealed record CheckpointRecord(
    [property: Id(0)] long Step, [property: Id(1)] string Folder, [property: Id(2)] string ManifestJson, [property: Id(3)] int KeepLast,
    [property: Id(4)] string? StateJson = null, [property: Id(5)] long Epoch = 0, [property: Id(6)] double WriteSeconds = 0);

/// <summary>A recorded checkpoint passed over because its files do not verify against its manifest.</summary>
/// <param name="Problem">what the verification found, naming the file (a missing part, a size or checksum mismatch).</param>
[GenerateSerializer, Alias("growlength.CheckpointRefusal")]
public sealed record CheckpointRefusal([property: Id(0)] long Step, [property: Id(1)] string Folder, [property: Id(2)] string Problem);

/// <summary>The checkpoint a resume or reload starts from: the newest recorded one whose files verify (null when none
/// does), and each newer record passed over, newest first, with why.</summary>
[GenerateSerializer, Alias("growlength.CheckpointChoice")]
public sealed record CheckpointChoice([property: Id(0)] CheckpointRecord? Latest, [property: Id(1)] CheckpointRefusal[] Refused)
{
    /// <summary>The run has checkpoint records and none verifies: starting from step 0 would throw its training away.</summary>
    public bool NoneUsable => Latest is null && Refused.Length > 0;

    /// <summary>Each refused checkpoint as "step N (folder): problem", newest first, separated by "; ".</summary>
    public string RefusalList() => string.Join("; ", Refused.Select(r => $"step {r.Step} ({r.Folder}): {r.Problem}"));
}
