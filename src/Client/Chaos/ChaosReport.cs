using System.Text.Json;
using System.Text.Json.Serialization;
using GrowLength.Grains;

namespace GrowLength.Client.Chaos;

/// <summary>What a chaos run did and how the run took it: every action with its figures, the kill statistics, each
/// silo's resident memory, the ledger check and how the run ended.</summary>
/// <param name="Folder">the chaos run's folder (state, checkpoints, silo logs).</param>
/// <param name="Plan">the plan in words.</param>
/// <param name="Ledger">the run's ledger check, or null when it could not be read (<paramref name="LedgerError"/> says why).</param>
/// <param name="FinalLoss">the run's last training loss (null: none seen).</param>
/// <param name="Recoveries">losses the run recovered from, by its own count.</param>
/// <param name="DurationReached">the plan's duration passed and chaos stopped the run.</param>
/// <param name="Stalled">no step completed for the stall limit; chaos gave up on the run.</param>
/// <param name="Interrupted">Ctrl+C or SIGTERM ended the chaos run.</param>
internal sealed record ChaosReport(
    string RunId, string Folder, string Plan, int Silos, int Workers, int MinWorkers, DateTime StartedUtc, double WallSeconds,
    IReadOnlyList<ChaosActionRecord> Actions, KillStatistics Kills, IReadOnlyList<SiloMemory> Memory,
    LedgerSummary? Ledger, string? LedgerError, RunLifecycle Lifecycle, string? Reason, long Step, double? FinalLoss, int Recoveries,
    bool DurationReached, bool Stalled, bool Interrupted)
{
    /// <summary>The run ended as it should (completed, or stopped by chaos after the plan's duration) with an exact ledger.</summary>
    public bool Passed => (Lifecycle == RunLifecycle.Completed || (Lifecycle == RunLifecycle.Stopped && DurationReached)) && Ledger is { Exact: true };

    /// <summary>Why the chaos run did not pass, in one line; null when it passed.</summary>
    public string? Failure =>
        Passed ? null
        : Interrupted ? "interrupted"
        : Stalled ? $"run {RunId} completed no step for too long at step {Step}; {Lifecycle}"
        : Lifecycle is not (RunLifecycle.Completed or RunLifecycle.Stopped) ? $"run {RunId} ended {Lifecycle} at step {Step}{(Reason is null ? "" : $": {Reason}")}"
        : Lifecycle == RunLifecycle.Stopped && !DurationReached ? $"run {RunId} was stopped at step {Step} by something other than chaos"
        : Ledger is null ? $"the ledger of run {RunId} could not be read: {LedgerError}"
        : $"the ledger of run {RunId} is not exact: {Ledger.Problem}";

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>The report as indented camelCase JSON (enums as words).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}
