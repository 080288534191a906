namespace GrowLength.Grains;

/// <summary>Where a run is in its life.</summary>
[GenerateSerializer, Alias("growlength.RunLifecycle")]
public enum RunLifecycle
{
    /// <summary>No run has this id.</summary>
    None = 0,
    /// <summary>Spec validated and stored; not started.</summary>
    Created = 1,
    /// <summary>Workers are training.</summary>
    Running = 2,
    /// <summary>A stop was asked for; the workers finish the step, checkpoint and stop.</summary>
    Stopping = 3,
    /// <summary>Stopped gracefully with a checkpoint; resumable.</summary>
    Stopped = 4,
    /// <summary>The budget is spent.</summary>
    Completed = 5,
    /// <summary>Failed; <see cref="RunStatus.Reason"/> says why. Resumable from the last complete checkpoint.</summary>
    Failed = 6,
}

/// <summary>Create a run from a spec. The spec travels as RunSpecJson text: the one validated, versioned shape that
/// checkpoints already store, with unknown keys rejected; a mirror of the config tree would be a second copy to keep in step.</summary>
[GenerateSerializer, Alias("growlength.CreateRun")]
public sealed record CreateRun([property: Id(0)] string SpecJson);

/// <summary>Start (or resume) a run on <see cref="Workers"/> workers, one per device slot.</summary>
/// <param name="Workers">the target: the run grows to it whenever device slots are free.</param>
/// <param name="MinWorkers">the fewest workers the run goes on with after a loss (0: 1); below it, it reloads its last
/// checkpoint once enough slots are free.</param>
/// <param name="MaxWorkers">the most workers `growlength scale` may ask for (0: <paramref name="Workers"/>).</param>
/// <param name="StepDeadlineSeconds">how long a step may take before its workers are checked and the step is given up
/// (0: derived from recent step times).</param>
/// <param name="StartOver">resume only: the run has checkpoint records and none verifies, and it begins again from step 0
/// on purpose (a StartedOver event says so). Without it such a resume is refused, listing each checkpoint and why; with
/// it, a run that has a checkpoint that verifies is refused.</param>
[GenerateSerializer, Alias("growlength.StartRun")]
public sealed record StartRun(
    [property: Id(0)] int Workers, [property: Id(1)] int MinWorkers = 0, [property: Id(2)] int MaxWorkers = 0,
    [property: Id(3)] double StepDeadlineSeconds = 0, [property: Id(4)] bool StartOver = false);

/// <summary>Change a live run's target worker count (and, when non-zero, its bounds); it takes effect at a step boundary.</summary>
[GenerateSerializer, Alias("growlength.ScaleRun")]
public sealed record ScaleRun([property: Id(0)] int Workers, [property: Id(1)] int MinWorkers = 0, [property: Id(2)] int MaxWorkers = 0);

/// <summary>The check of a run's ledger: every committed step's token blocks, by rank (RunLedger).</summary>
/// <param name="Exact">no block was skipped or consumed twice in the run's history (rolled-back steps excluded).</param>
/// <param name="Steps">committed steps in the history.</param>
/// <param name="Tokens">tokens in the history.</param>
/// <param name="TokensRetrained">tokens of steps that a checkpoint reload rolled back and trained again.</param>
/// <param name="Epochs">membership epochs seen.</param>
/// <param name="Problem">the first problem found, or null.</param>
[GenerateSerializer, Alias("growlength.LedgerSummary")]
public sealed record LedgerSummary(
    [property: Id(0)] bool Exact, [property: Id(1)] long Steps, [property: Id(2)] long Tokens, [property: Id(3)] long TokensRetrained,
    [property: Id(4)] int Epochs, [property: Id(5)] string? Problem, [property: Id(6)] string Path);

/// <summary>Where a worker of the current membership epoch is, as its coordinator knows it.</summary>
[GenerateSerializer, Alias("growlength.WorkerState")]
public enum WorkerState
{
    /// <summary>Its loop was started and has not ended.</summary>
    Training = 0,
    /// <summary>It carried out its last order (finish or stop).</summary>
    Done = 1,
    /// <summary>Its loop failed; the run's reason says why.</summary>
    Failed = 2,
    /// <summary>The coordinator aborted it (the run failed elsewhere).</summary>
    Aborted = 3,
    /// <summary>It is gone (its silo died, it missed a deadline, or it left) and is no longer a member.</summary>
    Lost = 4,
    /// <summary>Started for a coming epoch: it prepares and copies the state from a peer at the next step boundary.</summary>
    Joining = 5,
}

/// <summary>One worker of a run: its rank, the silo its device slot is on, and its state.</summary>
[GenerateSerializer, Alias("growlength.WorkerInfo")]
public sealed record WorkerInfo(
    [property: Id(0)] int Rank, [property: Id(1)] string Silo, [property: Id(2)] string Device, [property: Id(3)] WorkerState State = WorkerState.Training,
    [property: Id(4)] long Worker = -1);

/// <summary>A stage transition: the step at which a new length took effect.</summary>
/// <param name="ElapsedSeconds">training seconds (sum of step times) before the stage's first step: with the next
/// transition (or the run's end) it gives the stage's tokens/s even after the step records are gone.</param>
[GenerateSerializer, Alias("growlength.StageInfo")]
public sealed record StageInfo([property: Id(0)] int Stage, [property: Id(1)] int Length, [property: Id(2)] long Step, [property: Id(3)] long Tokens, [property: Id(4)] double ElapsedSeconds = 0);

/// <summary>Metrics of one optimizer step over all workers.</summary>
/// <param name="Loss">mean training loss of the step (nats/token): the ranks' loss sums over the step's tokens.</param>
/// <param name="StepSeconds">the step's wall time as the slowest worker saw it.</param>
/// <param name="Checksums">each rank's checksum of its parameters after the update, by rank; all equal or the run fails.</param>
/// <param name="Lengths">the length each rank trained at, by rank.</param>
/// <param name="ExchangeSeconds">the longest any rank waited for the exchange after its backward pass (it includes waiting
/// for slower peers' backward).</param>
/// <param name="ExchangeTransferSeconds">the shortest such wait: the rank that finished backward last waits for no peer, so
/// this is the exchange the step could not hide behind backward.</param>
/// <param name="ExchangeWorkSeconds">the shortest time any rank's exchange spent moving and summing buckets (with the
/// overlap, partly during backward): the gradient's bytes over this are the exchange's rate.</param>
[GenerateSerializer, Alias("growlength.StepRecord")]
public sealed record StepRecord(
    [property: Id(0)] long Step, [property: Id(1)] int Stage, [property: Id(2)] int Length, [property: Id(3)] double Loss,
    [property: Id(4)] long Tokens, [property: Id(5)] long StepTokens, [property: Id(6)] double StepSeconds,
    [property: Id(7)] double TokensPerSecond, [property: Id(8)] double LearningRate, [property: Id(9)] double GradNorm,
    [property: Id(10)] double DataWaitSeconds, [property: Id(11)] double ExchangeSeconds,
    [property: Id(12)] ulong[] Checksums, [property: Id(13)] int[] Lengths, [property: Id(14)] double ExchangeTransferSeconds,
    [property: Id(15)] double ExchangeWorkSeconds = 0);

/// <summary>Validation loss of the model after <see cref="Steps"/> completed steps, on the corpus's held-out windows.</summary>
/// <param name="Tokens">training tokens consumed by then.</param>
/// <param name="ElapsedSeconds">training seconds (sum of step times, evaluation excluded) by then.</param>
/// <param name="Length">context length of the windows (the run's eval.curveLength, by default schedule.maxLength).</param>
/// <param name="Loss">mean next-token cross-entropy, nats per token.</param>
/// <param name="StandardError">standard error of <paramref name="Loss"/> over the windows (their losses' sample standard
/// deviation over √windows); NaN when unknown: one window, or a point recorded before it was measured.</param>
/// <param name="TransitionOffset">for a point around a length change (eval.atTransitions), the steps trained at the new
/// length when it was measured: 0 (after the last step at the old length), 1 or 2. -1 for the regular cadence's points
/// and those recorded before transition points existed.</param>
[GenerateSerializer, Alias("growlength.EvaluationRecord")]
public sealed record EvaluationRecord(
    [property: Id(0)] long Steps, [property: Id(1)] long Tokens, [property: Id(2)] double ElapsedSeconds,
    [property: Id(3)] int Length, [property: Id(4)] double Loss, [property: Id(5)] int Windows,
    [property: Id(6)] double StandardError = double.NaN, [property: Id(7)] int TransitionOffset = -1);

/// <summary>A snapshot of a run for status and watch displays.</summary>
/// <param name="Step">completed steps; after a crash, the last step the coordinator made durable (at least every committed checkpoint).</param>
/// <param name="TokensPerSecond">over the last few steps.</param>
/// <param name="Events">the run's latest few events, oldest first (all it keeps: <see cref="IScheduleCoordinatorGrain.Events"/>).</param>
/// <param name="EtaSeconds">training seconds left at the recent rate (NaN when unknown).</param>
/// <param name="TargetWorkers">the worker count the run grows back to; <paramref name="WorldSize"/> is the current epoch's.</param>
/// <param name="Recoveries">losses the run recovered from without an operator.</param>
/// <param name="LastRecoverySeconds">seconds from the last loss's detection to the next completed step (NaN: none yet).</param>
[GenerateSerializer, Alias("growlength.RunStatus")]
public sealed record RunStatus(
    [property: Id(0)] string RunId, [property: Id(1)] RunLifecycle Lifecycle, [property: Id(2)] string? Reason,
    [property: Id(3)] long Step, [property: Id(4)] int Stage, [property: Id(5)] int Length, [property: Id(6)] long Tokens,
    [property: Id(7)] double BudgetFraction, [property: Id(8)] double TokensPerSecond, [property: Id(9)] double Loss,
    [property: Id(10)] double EtaSeconds, [property: Id(11)] double ElapsedSeconds, [property: Id(12)] long Epoch,
    [property: Id(13)] int WorldSize, [property: Id(14)] WorkerInfo[] Workers, [property: Id(15)] long LastCheckpointStep,
    [property: Id(16)] StageInfo[] Transitions, [property: Id(17)] StepRecord[] Recent, [property: Id(18)] RunEvent[] Events,
    [property: Id(19)] int TargetWorkers = 0, [property: Id(20)] int MinWorkers = 0, [property: Id(21)] int MaxWorkers = 0,
    [property: Id(22)] int Recoveries = 0, [property: Id(23)] double LastRecoverySeconds = double.NaN);

/// <summary>Bad input to a cluster request (spec, run id, checkpoint, folder), naming the setting or file to change.
/// Grains turn GrowLength.Training.RunInputException into this so Orleans can carry it to the client intact.</summary>
[GenerateSerializer, Alias("growlength.RunRequestException")]
public sealed class RunRequestException : Exception
{
    public RunRequestException(string subject, string problem, Exception? inner = null) : base($"{subject}: {problem}", inner)
    {
        Subject = subject;
        Problem = problem;
    }

    /// <summary>The setting path, run id or file at fault.</summary>
    [Id(0)] public string Subject { get; }

    /// <summary>What is wrong and what would fix it.</summary>
    [Id(1)] public string Problem { get; }
}
