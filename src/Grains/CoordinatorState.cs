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

    public int WorldSize { get; set; }

    public List<WorkerInfo> Workers { get; set; } = [];

    public string CheckpointFolder { get; set; } = "";

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
