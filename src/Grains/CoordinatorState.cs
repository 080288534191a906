using System.Text.Json.Serialization;
using GrowLength.Training.Engine;

namespace GrowLength.Grains;

/// <summary>What a run's coordinator keeps durably.</summary>
public sealed class CoordinatorState
{
    /// <summary>The validated spec with the vocabulary resolved (RunSpecJson).</summary>
    public string? SpecJson { get; set; }

    public RunLifecycle Lifecycle { get; set; }

    public string? Reason { get; set; }

    /// <summary>Progress and stage transitions: written at each transition (before its first step), at each committed
    /// checkpoint, at each lifecycle change, and otherwise at most every <see cref="ScheduleCoordinatorGrain.ProgressWriteInterval"/>.</summary>
    public TrainingState Training { get; set; } = TrainingState.Initial;

    /// <summary>Step of the last committed checkpoint, -1 before the first.</summary>
    public long LastCheckpointStep { get; set; } = -1;

    /// <summary>The order decided for the next step and not yet folded (the control loop's <see cref="RunControl.Pending"/>).</summary>
    public RunOrder? Pending { get; set; }

    public long Epoch { get; set; }

    /// <summary>The epoch the run's current history started in (a start, a resume, a checkpoint reload): ledger lines and
    /// checkpoint records of earlier epochs belong to a history the run rolled back from.</summary>
    public long TimelineEpoch { get; set; }

    /// <summary>The current epoch's members by rank (index = rank). Empty while the run waits for slots to reload.</summary>
    public List<WorkerInfo> Workers { get; set; } = [];

    /// <summary>The id the next started worker gets.</summary>
    public long NextWorker { get; set; }

    /// <summary>The worker count the run grows back to.</summary>
    public int TargetWorkers { get; set; }

    /// <summary>The fewest workers the run goes on with after a loss.</summary>
    public int MinWorkers { get; set; } = 1;

    /// <summary>The most workers `scale` may ask for.</summary>
    public int MaxWorkers { get; set; }

    /// <summary>How long a step may take before its members are checked (0: derived from recent step times).</summary>
    public double StepDeadlineSeconds { get; set; }

    /// <summary>Losses recovered from without an operator, and the last one's seconds from detection to the next step.</summary>
    public int Recoveries { get; set; }

    public double LastRecoverySeconds { get; set; } = double.NaN;


    /// <summary>Completed steps at which rank 0 is to measure a validation point before the next step (-1: none due).</summary>
    public long EvaluationDue { get; set; } = -1;

    /// <summary>Whether the point due at <see cref="EvaluationDue"/> is on the regular cadence, so the next regular point is
    /// spaced from it (true in states written before points around length changes existed).</summary>
    public bool EvaluationDueOnCadence { get; set; } = true;

    /// <summary>For a point due around a length change (eval.atTransitions), the steps trained at the new length: 0, 1 or
    /// 2; -1 otherwise.</summary>
    public int EvaluationDueTransition { get; set; } = -1;

    /// <summary>The last validation point on the regular cadence: its steps and training seconds (-1: none yet).</summary>
    public long LastPointStep { get; set; } = -1;

    public double LastPointSeconds { get; set; }

    public string CheckpointFolder { get; set; } = "";

    /// <summary>The token in the checkpoint folder's <c>run.marker</c>: a worker's silo checks it reaches this very folder
    /// before it trains (null for runs created before markers).</summary>
    public string? FolderToken { get; set; }

    /// <summary>The validation-loss curve, oldest first; points past the checkpoint a resume starts from are dropped.</summary>
    public List<EvaluationRecord> Evaluations { get; set; } = [];

    /// <summary>The run's last <see cref="ScheduleCoordinatorGrain.KeptEvents"/> events, oldest first.</summary>
    public List<RunEvent> Events { get; set; } = [];

    /// <summary>The control loop's state, as the three fields above hold it (the file keeps its earlier shape).</summary>
    [JsonIgnore]
    public RunControl Control
    {
        get => new(Training, LastCheckpointStep, Pending);
        set => (Training, LastCheckpointStep, Pending) = (value.Training, value.LastCheckpointStep, value.Pending);
    }
}
