namespace GrowLength.Grains;

/// <summary>A run's schedule, lifecycle, progress and membership (key: run id). Client API and worker protocol.</summary>
[Alias("growlength.IScheduleCoordinatorGrain")]
public interface IScheduleCoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Validates the spec (and its corpus and checkpoint folder) and stores it; throws <see cref="RunRequestException"/> on bad input.</summary>
    /// <remarks>A corpus not yet in the silo's cache is packed during this call, which for a large corpus takes far longer
    /// than the 30 s default response timeout; the call waits (off the scheduler) as long as packing takes, and a silo
    /// that dies meanwhile breaks it at once.</remarks>
    [Alias("Create"), ResponseTimeout(CorpusPackingTimeout)] Task<RunStatus> Create(CreateRun request);

    /// <summary>The response timeout of calls that may pack a corpus.</summary>
    const string CorpusPackingTimeout = "06:00:00";

    /// <summary>Starts a created run.</summary>
    /// <remarks>Its workers' activations may wait out Orleans' directory lease after a silo died (up to half a minute),
    /// on more than one try: longer than the 30 s default response timeout.</remarks>
    [Alias("Start"), ResponseTimeout(WorkerLaunchTimeout)] Task<RunStatus> Start(StartRun request);

    /// <summary>The response timeout of calls that start a run's workers.</summary>
    const string WorkerLaunchTimeout = "00:03:00";

    /// <summary>Asks the workers to checkpoint after the current step and stop.</summary>
    [Alias("Stop")] Task<RunStatus> Stop();

    /// <summary>Continues a stopped or failed run from its latest complete checkpoint. A run whose checkpoints are all
    /// recorded and none verifies is refused (<see cref="RunRequestException"/> listing each and why, the run unchanged)
    /// unless <see cref="StartRun.StartOver"/> asks to begin again from step 0.</summary>
    [Alias("Resume"), ResponseTimeout(WorkerLaunchTimeout)] Task<RunStatus> Resume(StartRun request);

    /// <summary>A snapshot for status and watch.</summary>
    [Alias("Status")] Task<RunStatus> Status();

    /// <summary>Every kept step record from <paramref name="fromStep"/> on (the coordinator keeps the last few hundred).</summary>
    [Alias("Steps")] Task<StepRecord[]> Steps(long fromStep);

    /// <summary>The run's kept events after sequence number <paramref name="afterSequence"/>, oldest first (0: all it keeps).</summary>
    [Alias("Events")] Task<RunEvent[]> Events(long afterSequence);

    /// <summary>Subscribes <paramref name="observer"/> to the run's events, or renews its subscription; a subscription not
    /// renewed within <see cref="SubscriptionLifetime"/> lapses.</summary>
    [Alias("Subscribe")] Task Subscribe(IRunObserver observer);

    /// <summary>Ends a subscription.</summary>
    [Alias("Unsubscribe")] Task Unsubscribe(IRunObserver observer);

    /// <summary>How long a subscription lasts without renewal; subscribers renew at a third of it.</summary>
    static readonly TimeSpan SubscriptionLifetime = TimeSpan.FromSeconds(90);

    /// <summary>The run's validation-loss curve at eval.curveLength (default schedule.maxLength): before the first step and
    /// every eval.everySteps steps or eval.everySeconds training seconds when asked, and at the end; oldest first.</summary>
    [Alias("Evaluations")] Task<EvaluationRecord[]> Evaluations();

    /// <summary>Changes the target worker count of a live run (and its bounds); workers join or leave at a step boundary.</summary>
    [Alias("Scale")] Task<RunStatus> Scale(ScaleRun request);

    /// <summary>Checks the run's ledger: every committed step's token blocks, consumed once each across joins, leaves and kills.</summary>
    [Alias("Ledger")] Task<LedgerSummary> Ledger();

    /// <summary>Worker protocol: the worker's next order. <paramref name="applied"/> is how many steps' updates its
    /// parameters hold; <paramref name="held"/> says it holds the reduced gradient of step <paramref name="applied"/>
    /// (reported, not yet applied). Waits (a few seconds at most: the worker asks again on <see cref="TimeoutException"/>)
    /// until every rank reported that step, or its epoch ended.</summary>
    [ClusterInternal, Alias("NextStep")] Task<StepOrder> NextStep(long worker, long epoch, long applied, bool held);

    /// <summary>Worker protocol: one rank's account of a step; returns at once (the commit comes with the next order).</summary>
    [ClusterInternal, Alias("Report")] Task Report(StepReport report);

    /// <summary>Worker protocol: a wait or the exchange of <paramref name="step"/> failed on this worker (a peer gone, a
    /// deadline passed); the coordinator checks the members and gives the step up on every rank.</summary>
    [ClusterInternal, Alias("StepFailed")] Task StepFailed(long worker, long epoch, long step, string reason);

    /// <summary>Worker protocol: a joining worker prepared its model and data and waits to be added at a step boundary.</summary>
    [ClusterInternal, Alias("JoinReady")] Task JoinReady(long worker);

    /// <summary>Worker protocol: rank 0 measured validation loss after <paramref name="steps"/> completed steps, with its
    /// standard error over the windows (NaN with 0 windows: the split is too short and no curve was asked for); the
    /// coordinator stamps the tokens and seconds, and marks a point it asked for around a length change.</summary>
    [ClusterInternal, Alias("ReportEvaluation")] Task ReportEvaluation(long epoch, long steps, int length, double loss, int windows, double standardError);

    /// <summary>Checkpoint protocol: the checkpoint grain recorded <paramref name="record"/> (rank 0 wrote it).</summary>
    [ClusterInternal, Alias("CheckpointCommitted")] Task CheckpointCommitted(CheckpointRecord record);

    /// <summary>Worker protocol: a worker finished its last order (Finish or Stop).</summary>
    [ClusterInternal, Alias("WorkerDone")] Task WorkerDone(long worker, long epoch);

    /// <summary>Worker protocol: a worker's loop failed, or ended because its silo is shutting down (<paramref name="leaving"/>).</summary>
    [ClusterInternal, Alias("WorkerFailed")] Task WorkerFailed(long worker, long epoch, string reason, bool leaving);
}

/// <summary>Control plane of one compute slot (key: "run id/worker id"); its training loop runs on the silo's device thread
/// and lives across membership epochs (its rank may change; its parameters stay).</summary>
[Alias("growlength.IWorkerGrain")]
public interface IWorkerGrain : IGrainWithStringKey
{
    /// <summary>Starts the training loop for this assignment on a device slot of this silo; returns the silo and device.</summary>
    /// <remarks>The coordinator gives up at 40 s (its activation may wait out Orleans' directory lease after a silo
    /// died); the response timeout is longer, so the coordinator's limit is the one that applies.</remarks>
    [ClusterInternal, Alias("Start"), ResponseTimeout("00:01:00")] Task<WorkerInfo> Start(WorkerAssignment assignment);

    /// <summary>A gradient chunk from the left neighbour in the ring.</summary>
    [ClusterInternal, Alias("ReceiveChunk")] Task ReceiveChunk(GradientChunk chunk);

    /// <summary>Where the left neighbour sends this worker's gradient chunks over the silo's data plane, with the token it
    /// must present; internal to the cluster, so only a ring member learns the token.</summary>
    [ClusterInternal, Alias("ExchangeEndpoint")] Task<ExchangeEndpoint> ExchangeEndpoint();

    /// <summary>Stops the loop at once, without saving, when its epoch is <paramref name="epoch"/> or older (the run failed,
    /// or the worker is no longer a member).</summary>
    [ClusterInternal, Alias("Abort")] Task Abort(long epoch, string reason);

    /// <summary>The membership moved on to <paramref name="epoch"/>: a step of an older epoch in flight is given up at its
    /// next wait (its gradient is discarded, nothing is applied) and the loop asks for its next order.</summary>
    [ClusterInternal, Alias("EndEpoch")] Task EndEpoch(long epoch);

    /// <summary>Part <paramref name="part"/> of the state this worker copied for the joiners of <paramref name="epoch"/>;
    /// waits (a few seconds at most: ask again on <see cref="TimeoutException"/>) until the copy is made.</summary>
    [ClusterInternal, Alias("FetchState")] Task<StatePart> FetchState(long epoch, int part);

    /// <summary>The worker's own view.</summary>
    [Alias("Status")] Task<WorkerStatus> Status();
}

/// <summary>Serves one worker's rows of each step from the packed corpus, prefetching the next (key: "run id/worker id").</summary>
[ClusterInternal, Alias("growlength.IDataShardGrain")]
public interface IDataShardGrain : IGrainWithStringKey
{
    /// <summary>Opens the run's corpus through this silo's corpus cache (packing it there first on a silo that lacks it).</summary>
    [Alias("Open"), ResponseTimeout(IScheduleCoordinatorGrain.CorpusPackingTimeout)] Task Open(string specJson);

    /// <summary>The rows of one step.</summary>
    [Alias("GetRows")] Task<RowBatch> GetRows(RowRequest request);

    /// <summary>The validation windows rank 0 measures (as the client's evaluation and the bare Trainer do) at <paramref name="length"/>
    /// (at most <paramref name="maxWindows"/>); throws <see cref="RunRequestException"/> when the split is too short for one.</summary>
    [Alias("GetValidationWindows")] Task<ValidationBatch> GetValidationWindows(int length, int maxWindows);
}

/// <summary>The commit protocol's last word and the one owner of a run's checkpoint records (key: run id): a checkpoint
/// exists once its manifest is recorded here, and only this grain prunes the run's checkpoint folders.</summary>
[Alias("growlength.ICheckpointGrain")]
public interface ICheckpointGrain : IGrainWithStringKey
{
    /// <summary>Records a checkpoint whose files are already written, flushed and checksummed; then keeps the last K
    /// (records and folders, one rule) and tells the run's coordinator.</summary>
    [ClusterInternal, Alias("Commit")] Task Commit(CheckpointRecord record);

    /// <summary>The newest recorded checkpoint whose files verify against its manifest, or null; bad ones are skipped
    /// with a log. What it returns was verified now: pass it on rather than verifying it again.</summary>
    [Alias("Latest")] Task<CheckpointRecord?> Latest();

    /// <summary>What a resume or reload starts from: <see cref="Latest"/>, and each newer record it passed over and why
    /// (all of them when none verifies).</summary>
    [Alias("Choose")] Task<CheckpointChoice> Choose();

    /// <summary>Every recorded checkpoint, oldest first.</summary>
    [Alias("List")] Task<CheckpointRecord[]> List();
}

/// <summary>Every run id the cluster knows (key: "runs").</summary>
[Alias("growlength.IRunRegistryGrain")]
public interface IRunRegistryGrain : IGrainWithStringKey
{
    /// <summary>The registry's key.</summary>
    const string Key = "runs";

    /// <summary>Coordinator protocol: a run was created.</summary>
    [ClusterInternal, Alias("Add")] Task Add(string runId);

    /// <summary>Every run id, oldest first.</summary>
    [Alias("List")] Task<string[]> List();
}
