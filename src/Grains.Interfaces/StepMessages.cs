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
    /// <summary>The membership epoch moved on or the run failed: stop at once without saving.</summary>
    Abort = 3,
}

/// <summary>One step's plan, as the run's control loop decided it. A stage transition is not in it: the coordinator
/// broadcasts it once as a <see cref="RunEvent"/>, and the step only carries its length.</summary>
[GenerateSerializer, Alias("growlength.StepPlanMessage")]
public sealed record StepPlanMessage(
    [property: Id(0)] long Step, [property: Id(1)] int Stage, [property: Id(2)] int Length, [property: Id(3)] int Rows,
    [property: Id(4)] long StreamOffset, [property: Id(5)] long Tokens, [property: Id(6)] double LearningRate,
    [property: Id(7)] int MicroBatchRows);

/// <summary>The coordinator's answer to a worker's plan request, stamped with the membership epoch.</summary>
/// <param name="CheckpointStateJson">when set, rank 0 first saves a checkpoint of this TrainingState (JSON, the
/// checkpoint's state.json) with its current weights, which are those after the step the state counts.</param>
[GenerateSerializer, Alias("growlength.StepOrder")]
public sealed record StepOrder(
    [property: Id(0)] StepOrderKind Kind, [property: Id(1)] long Epoch, [property: Id(2)] StepPlanMessage? Plan,
    [property: Id(3)] string? CheckpointStateJson, [property: Id(4)] long CheckpointStep);

/// <summary>One rank's account of a step.</summary>
[GenerateSerializer, Alias("growlength.StepReport")]
public sealed record StepReport(
    [property: Id(0)] int Rank, [property: Id(1)] long Epoch, [property: Id(2)] long Step, [property: Id(3)] int Length,
    [property: Id(4)] double LossSum, [property: Id(5)] long Tokens, [property: Id(6)] double Seconds,
    [property: Id(7)] double DataWaitSeconds, [property: Id(8)] double ExchangeSeconds, [property: Id(9)] double GradNorm,
    [property: Id(10)] ulong ParameterChecksum);

/// <summary>What a worker grain needs to start its training loop.</summary>
/// <param name="Resume">the checkpoint to load weights and optimizer from, as the checkpoint grain verified it (the
/// worker does not verify it again), or null to start fresh.</param>
[GenerateSerializer, Alias("growlength.WorkerAssignment")]
public sealed record WorkerAssignment(
    [property: Id(0)] string RunId, [property: Id(1)] int Rank, [property: Id(2)] int WorldSize, [property: Id(3)] long Epoch,
    [property: Id(4)] string SpecJson, [property: Id(5)] string CheckpointFolder, [property: Id(6)] CheckpointRecord? Resume,
    [property: Id(7)] int ChunkBytes)
{
    /// <summary>The step training starts from.</summary>
    public long FirstStep => Resume?.Step ?? 0;
}

/// <summary>A worker's own view, for status and tests.</summary>
/// <param name="Events">the run events this worker's loop heard (the coordinator's broadcast), oldest first.</param>
/// <param name="PreflightSeconds">the forward/backward at the maximum length with a full micro-batch that every loop runs
/// before its first step (so an out-of-memory shows at once); NaN until it has run.</param>
[GenerateSerializer, Alias("growlength.WorkerStatus")]
public sealed record WorkerStatus(
    [property: Id(0)] int Rank, [property: Id(1)] long Epoch, [property: Id(2)] string Silo, [property: Id(3)] string Device,
    [property: Id(4)] long CompletedSteps, [property: Id(5)] bool Running, [property: Id(6)] string? Error,
    [property: Id(7)] RunEvent[] Events, [property: Id(8)] long[] LengthSwitchSteps, [property: Id(9)] double PreflightSeconds);

/// <summary>One piece of a ring all-reduce: fp32 gradient elements as little-endian bytes.
/// Immutable, so a call to a worker on the same silo passes the array without a copy.</summary>
[GenerateSerializer, Immutable, Alias("growlength.GradientChunk")]
public sealed record GradientChunk(
    [property: Id(0)] long Epoch, [property: Id(1)] long Step, [property: Id(2)] int Round, [property: Id(3)] int Segment,
    [property: Id(4)] int Chunk, [property: Id(5)] byte[] Data);

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
