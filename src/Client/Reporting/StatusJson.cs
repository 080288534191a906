using System.Text.Json;
using System.Text.Json.Serialization;
using GrowLength.Grains;

namespace GrowLength.Client.Reporting;

/// <summary>`growlength status RUN --json` and `growlength list --json`: a run's state as a stable, documented JSON shape
/// (docs/status-json.md). Numbers that are not known (a loss before the first step seen, an ETA) are null, not NaN.</summary>
internal static class StatusJson
{
    public const string RunSchema = "growlength-run/1";
    public const string ListSchema = "growlength-runs/1";

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>One run, as `status --json` prints it (and each entry of `list --json`).</summary>
    public sealed record Run(
        string Schema, string RunId, RunLifecycle Lifecycle, string? Reason, long Step, int Stage, int Length, long Tokens,
        double BudgetFraction, double ElapsedSeconds, double? TokensPerSecond, double? Loss, double? EtaSeconds, long Epoch,
        int WorldSize, int TargetWorkers, int MinWorkers, int MaxWorkers, int Recoveries, double? LastRecoverySeconds,
        IReadOnlyList<Worker> Workers, long? LastCheckpointStep, IReadOnlyList<Stage> Stages,
        Validation? Validation, IReadOnlyList<Event> Events);

    /// <summary>One worker; <see cref="Id"/> is its stable worker id (null when the coordinator did not give one).</summary>
    public sealed record Worker(int Rank, long? Id, string Silo, string Device, WorkerState State);

    public sealed record Stage(int Index, int Length, long Step, long Tokens, double ElapsedSeconds);

    /// <summary>A validation point; <see cref="StandardError"/> is null when unknown (one window, or an older run).</summary>
    public sealed record Validation(long Steps, long Tokens, double ElapsedSeconds, int Length, double Loss, int Windows, double? StandardError);

    public sealed record Event(
        long Sequence, RunEventKind Kind, DateTime TimeUtc, long Epoch, long Step, string Message, Recovery? Recovery);

    /// <summary>What a loss, recovery, rescale or reload changed (<see cref="RecoveryInfo"/>).</summary>
    public sealed record Recovery(
        string Cause, IReadOnlyList<int> Ranks, int WorldBefore, int WorldAfter, double? SecondsToNextStep, long TokensRetrained);

    public sealed record RunList(string Schema, IReadOnlyList<Run> Runs);

    /// <summary>One run from its status, its latest validation point and the events it keeps.</summary>
    public static Run Of(RunStatus s, EvaluationRecord? validation, IReadOnlyList<RunEvent> events) => new(
        RunSchema, s.RunId, s.Lifecycle, s.Reason, s.Step, s.Stage, s.Length, s.Tokens, s.BudgetFraction, s.ElapsedSeconds,
        Known(s.TokensPerSecond), Known(s.Loss), Known(s.EtaSeconds), s.Epoch, s.WorldSize,
        s.TargetWorkers, s.MinWorkers, s.MaxWorkers, s.Recoveries, Known(s.LastRecoverySeconds),
        [.. s.Workers.Select(w => new Worker(w.Rank, w.Worker < 0 ? null : w.Worker, w.Silo, w.Device, w.State))],
        s.LastCheckpointStep < 0 ? null : s.LastCheckpointStep,
        [.. s.Transitions.Select(t => new Stage(t.Stage, t.Length, t.Step, t.Tokens, t.ElapsedSeconds))],
        validation is { } v ? new Validation(v.Steps, v.Tokens, v.ElapsedSeconds, v.Length, v.Loss, v.Windows, Known(v.StandardError)) : null,
        [.. events.Select(e => new Event(e.Sequence, e.Kind, e.TimeUtc, e.Epoch, e.Step, e.Message,
            e.Recovery is { } r ? new Recovery(r.Cause, r.Ranks, r.WorldBefore, r.WorldAfter, Known(r.SecondsToNextStep), r.TokensRetrained) : null))]);

    public static string Write(Run run) => JsonSerializer.Serialize(run, Options);

    public static string Write(IEnumerable<Run> runs) => JsonSerializer.Serialize(new RunList(ListSchema, [.. runs]), Options);

    private static double? Known(double value) => double.IsFinite(value) ? value : null;
}
