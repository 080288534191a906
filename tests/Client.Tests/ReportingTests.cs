using System.Globalization;
using System.Text.Json;
using GrowLength.Client.Reporting;
using GrowLength.Grains;
using Spectre.Console;

namespace GrowLength.Client.Tests;

/// <summary>What status, status --json and watch show of a run that healed itself: workers against the target and bounds,
/// recoveries, each worker's id and state, and the figures of loss, recovery, rescale and reload events. In process, on
/// hand-made statuses: a real loss needs a cluster that loses a silo (Cluster.Tests).</summary>
public sealed class ReportingTests
{
    private static readonly DateTime At = new(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    private static RunStatus Status(WorkerInfo[] workers, RunEvent[] events, int recoveries = 0, double lastRecovery = double.NaN) => new(
        "heal", RunLifecycle.Running, null, Step: 40, Stage: 1, Length: 32, Tokens: 40 * 512, BudgetFraction: 0.4, TokensPerSecond: 9000,
        Loss: 3.5, EtaSeconds: 12, ElapsedSeconds: 8, Epoch: 3, WorldSize: 2, workers, LastCheckpointStep: 35, Transitions: [],
        Recent: [], events, TargetWorkers: 3, MinWorkers: 1, MaxWorkers: 4, Recoveries: recoveries, LastRecoverySeconds: lastRecovery);

    private static readonly WorkerInfo[] Workers =
    [
        new(0, "S127.0.0.1:11111:1", "cpu", WorkerState.Training, Worker: 7),
        new(1, "S127.0.0.1:11112:1", "cpu", WorkerState.Lost, Worker: 8),
        new(2, "S127.0.0.1:11113:1", "cpu", WorkerState.Joining, Worker: 9),
        new(3, "S127.0.0.1:11114:1", "cpu", WorkerState.Training),
    ];

    private static RunEvent Lost(int after) => new(5, RunEventKind.WorkerLost, At, 3, 40,
        $"worker lost: rank 1 (silo [S127.0.0.1:11112:1] declared dead); {after} workers continue",
        Recovery: new RecoveryInfo("silo declared dead", [1], 3, after, double.NaN, 0));

    private static readonly RunEvent Recovered = new(6, RunEventKind.Recovered, At, 4, 41, "recovered: step 41 completed on 2 workers",
        Recovery: new RecoveryInfo("silo declared dead", [1], 3, 2, 4.5, 8192));

    private static readonly RunEvent Checkpoint = new(4, RunEventKind.CheckpointCommitted, At, 3, 35, "checkpoint at step 35", CheckpointFolder: "/x");

    [Fact]
    public void StatusJsonCarriesTheTargetBoundsRecoveriesWorkerIdsAndStatesAndEachEventsRecovery()
    {
        var status = Status(Workers, [Checkpoint, Lost(2), Recovered], recoveries: 2, lastRecovery: 4.5);
        using var json = JsonDocument.Parse(StatusJson.Write(StatusJson.Of(status, null, status.Events)));
        var run = json.RootElement;

        // Additive fields: the schema stays version 1 and the fields it had keep their names and values.
        Assert.Equal("growlength-run/1", run.GetProperty("schema").GetString());
        Assert.Equal(2, run.GetProperty("worldSize").GetInt32());
        Assert.Equal(3, run.GetProperty("targetWorkers").GetInt32());
        Assert.Equal(1, run.GetProperty("minWorkers").GetInt32());
        Assert.Equal(4, run.GetProperty("maxWorkers").GetInt32());
        Assert.Equal(2, run.GetProperty("recoveries").GetInt32());
        Assert.Equal(4.5, run.GetProperty("lastRecoverySeconds").GetDouble());

        var workers = run.GetProperty("workers").EnumerateArray().ToList();
        Assert.Equal([7L, 8L, 9L], workers.Take(3).Select(w => w.GetProperty("id").GetInt64()));
        Assert.Equal(JsonValueKind.Null, workers[3].GetProperty("id").ValueKind); // no id given: null, never -1
        Assert.Equal(["Training", "Lost", "Joining", "Training"], workers.Select(w => w.GetProperty("state").GetString()));
        Assert.Equal(1, workers[1].GetProperty("rank").GetInt32());
        Assert.Equal("S127.0.0.1:11112:1", workers[1].GetProperty("silo").GetString());

        var events = run.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(JsonValueKind.Null, events[0].GetProperty("recovery").ValueKind);
        var lost = events[1];
        Assert.Equal("WorkerLost", lost.GetProperty("kind").GetString());
        var loss = lost.GetProperty("recovery");
        Assert.Equal("silo declared dead", loss.GetProperty("cause").GetString());
        Assert.Equal([1], loss.GetProperty("ranks").EnumerateArray().Select(r => r.GetInt32()));
        Assert.Equal(3, loss.GetProperty("worldBefore").GetInt32());
        Assert.Equal(2, loss.GetProperty("worldAfter").GetInt32());
        Assert.Equal(JsonValueKind.Null, loss.GetProperty("secondsToNextStep").ValueKind); // NaN: null
        Assert.Equal(0, loss.GetProperty("tokensRetrained").GetInt64());
        var recovered = events[2].GetProperty("recovery");
        Assert.Equal("Recovered", events[2].GetProperty("kind").GetString());
        Assert.Equal(4.5, recovered.GetProperty("secondsToNextStep").GetDouble());
        Assert.Equal(8192, recovered.GetProperty("tokensRetrained").GetInt64());
    }

    [Fact]
    public void StatusJsonOfARunThatNeverRecoveredHasNoLastRecoveryAndNoNaN()
    {
        var status = Status([], []);
        var text = StatusJson.Write(StatusJson.Of(status, null, []));
        using var json = JsonDocument.Parse(text);
        Assert.Equal(0, json.RootElement.GetProperty("recoveries").GetInt32());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("lastRecoverySeconds").ValueKind);
        Assert.DoesNotContain("NaN", text);
    }

    [Fact]
    public void StatusShowsTheValidationLossWithItsStandardErrorWhenKnown()
    {
        using var culture = new InvariantCulture();
        var measured = new EvaluationRecord(40, 40 * 512, 8, 64, 2.5, 16, 0.0125, 1);
        var text = Render(c => ReportTables.WriteStatus(c, Status([], []), measured));
        Assert.Contains("loss 2.5000 ± 0.0125, perplexity 12.182 at length 64, step 40 (16 windows)", text);
        using var json = JsonDocument.Parse(StatusJson.Write(StatusJson.Of(Status([], []), measured, [])));
        Assert.Equal(0.0125, json.RootElement.GetProperty("validation").GetProperty("standardError").GetDouble());

        // A point recorded before standard errors were measured: no "±", and null in the JSON, never NaN.
        var old = new EvaluationRecord(40, 40 * 512, 8, 64, 2.5, 16);
        Assert.Contains("loss 2.5000, perplexity", Render(c => ReportTables.WriteStatus(c, Status([], []), old)));
        var text2 = StatusJson.Write(StatusJson.Of(Status([], []), old, []));
        using var json2 = JsonDocument.Parse(text2);
        Assert.Equal(JsonValueKind.Null, json2.RootElement.GetProperty("validation").GetProperty("standardError").ValueKind);
        Assert.DoesNotContain("NaN", text2);
    }

    [Fact]
    public void StatusShowsWorkersAgainstTheTargetAndBoundsTheRecoveriesAndEachWorkersIdAndState()
    {
        using var culture = new InvariantCulture();
        var text = Render(c => ReportTables.WriteStatus(c, Status(Workers, [Lost(2), Recovered], recoveries: 2, lastRecovery: 4.5), null));

        Assert.Contains("2 of target 3 (min 1, max 4); recoveries: 2, last 4.5 s", text);
        var rows = text.Split('\n');
        Assert.Contains(rows, r => r.Contains("S127.0.0.1:11112:1") && r.Contains(" 8 ") && r.Contains("Lost"));
        Assert.Contains(rows, r => r.Contains("S127.0.0.1:11113:1") && r.Contains(" 9 ") && r.Contains("Joining"));
        Assert.Contains(rows, r => r.Contains("S127.0.0.1:11114:1") && r.Contains(" - ") && r.Contains("Training"));
    }

    [Fact]
    public void StatusLeavesOutRecoveriesAndBoundsNobodyReported()
    {
        using var culture = new InvariantCulture();
        var none = Status(Workers, []) with { MinWorkers = 0, MaxWorkers = 0 };
        Assert.Equal("2 of target 3", ReportTables.WorkersSummary(none));
        Assert.Equal("2", ReportTables.WorkersSummary(none with { TargetWorkers = 0 }));
        Assert.Equal("2 of target 3 (max 4); recoveries: 1", ReportTables.WorkersSummary(none with { MaxWorkers = 4, Recoveries = 1 }));
        Assert.DoesNotContain("recoveries", Render(c => ReportTables.WriteStatus(c, Status(Workers, []), null)));
    }

    [Fact]
    public void WatchPrintsALostWorkerYellowOrRedWithItsFiguresAndARecoveryGreen()
    {
        using var culture = new InvariantCulture();
        var lost = RunWatcher.EventLine(Lost(2));
        Assert.StartsWith("[yellow]worker lost: rank 1 (silo [[S127.0.0.1:11112:1]] declared dead); 2 workers continue[/]", lost);
        Assert.Contains("rank 1 lost; from 3 to 2 workers", lost);
        Assert.StartsWith("[red]", RunWatcher.EventLine(Lost(0)));

        var recovered = RunWatcher.EventLine(Recovered);
        Assert.StartsWith("[green]recovered: step 41 completed on 2 workers[/]", recovered);
        Assert.Contains("4.5 s from detection to the next step; 8,192 tokens retrained; from 3 to 2 workers", recovered);

        var grown = RunWatcher.EventLine(new RunEvent(7, RunEventKind.Rescaled, At, 5, 50, "rescaled: silo S… joined",
            Recovery: new RecoveryInfo("join", [2], 2, 3, double.NaN, 0)));
        Assert.StartsWith("[cyan]", grown);
        Assert.Contains("rank 2 joined; from 2 to 3 workers", grown);
        var shrunk = RunEventLine(RunEventKind.Rescaled, new RecoveryInfo("scale", [2, 3], 4, 2, double.NaN, 0));
        Assert.Contains("ranks 2, 3 left; from 4 to 2 workers", shrunk);

        var reloading = RunEventLine(RunEventKind.Reloading, new RecoveryInfo("silo declared dead", [0], 1, 0, double.NaN, 2048));
        Assert.StartsWith("[yellow]", reloading);
        Assert.Contains("rank 0 lost; from 1 to 0 workers; 2,048 tokens to retrain", reloading);

        // Every line is valid markup whatever the message holds (the silo in brackets above).
        foreach (var line in new[] { lost, recovered, grown, shrunk, reloading, RunWatcher.EventLine(Lost(0)) })
            Render(c => c.MarkupLine(line));
        // An event without figures (an older coordinator) prints its words alone.
        Assert.Equal("[green]recovered[/]", RunWatcher.EventLine(new RunEvent(8, RunEventKind.Recovered, At, 5, 51, "recovered")));
    }

    [Fact]
    public void TheWatchStatusLineCountsTheEpochsWorkersAgainstTheTarget()
    {
        using var culture = new InvariantCulture();
        var line = RunWatcher.StatusLine(Status(Workers, []));
        Assert.Contains("| 2 of 3 workers | Running", line);
        Assert.Contains("| 3 workers | Running", RunWatcher.StatusLine(Status(Workers, []) with { WorldSize = 3 }));
        Assert.Contains("| 1 worker | Running", RunWatcher.StatusLine(Status(Workers, []) with { WorldSize = 1, TargetWorkers = 0 }));
    }

    private static string RunEventLine(RunEventKind kind, RecoveryInfo recovery) =>
        RunWatcher.EventLine(new RunEvent(9, kind, At, 6, 60, $"{kind}", Recovery: recovery));

    /// <summary>What <paramref name="write"/> prints on a plain, wide console (no colours, no terminal).</summary>
    private static string Render(Action<IAnsiConsole> write)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 200;
        write(console);
        return output.ToString().Replace("\r\n", "\n");
    }

    /// <summary>Number formats (thousands separators, decimal points) as the assertions spell them, for one test.</summary>
    private sealed class InvariantCulture : IDisposable
    {
        private readonly CultureInfo previous = CultureInfo.CurrentCulture;

        public InvariantCulture() => CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

        public void Dispose() => CultureInfo.CurrentCulture = previous;
    }
}
