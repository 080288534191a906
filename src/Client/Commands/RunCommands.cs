using System.CommandLine;
using GrowLength.Grains;
using GrowLength.Training;
using GrowLength.Training.Run;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using GrowLength.Client.Reporting;

namespace GrowLength.Client.Commands;

/// <summary>The commands that train through the grains: run (alias train), demo, resume, watch, status, stop, list.
/// Every one talks to the cluster at --cluster, or to a silo started in this process when there is none.</summary>
internal sealed class RunCommands(IAnsiConsole console, Option<DirectoryInfo> home, Option<string[]> cluster, ClientTlsOptions tls)
{
    private readonly WorkerOptions workers = new();
    private readonly Option<bool> detach = new("--detach") { Description = "With --cluster: start the run and return; `growlength watch RUN` follows it." };
    private readonly Option<DirectoryInfo?> export = new("--export") { Description = "After the run completes, export the model (safetensors + config.json) to this folder." };

    private static Argument<string> RunArgument() => new("run") { Description = "The run id (`growlength list` shows them)." };

    /// <summary>`run` (alias `train`) and `demo`: create a run from a spec, start it and watch it to the end.</summary>
    public Command Run(string name, string description, string[] aliases)
    {
        var spec = new RunSpecOptions();
        var runId = new Option<string?>("--run-id") { Description = "The run's id (default: the spec's name). An existing run with this id is resumed, or reported if completed." };
        var fresh = new Option<bool>("--fresh", "--restart") { Description = "Start a new run even when one with this id exists: the id gets a -2, -3, … suffix." };
        var command = new Command(name, description) { detach, export, runId, fresh };
        workers.AddTo(command);
        foreach (var alias in aliases) command.Aliases.Add(alias);
        spec.AddTo(command);
        command.SetAction(parse =>
        {
            // Bad run settings are found before anything starts.
            var built = spec.Build(parse);
            var start = workers.Request(parse);
            return Execute(parse, (connection, stop) => StartAndFollow(parse, built, start, connection, stop), WorkerOptions.Slots(start));
        });
        return command;

        async Task<int> StartAndFollow(ParseResult parse, RunSpec built, StartRun start, ClusterConnection connection, CancellationToken stop)
        {
            var registry = connection.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key);
            var known = await ClusterConnection.Read(() => registry.List());
            var id = parse.GetValue(runId) ?? built.Name;
            if (parse.GetValue(fresh) && known.Contains(id))
            {
                var stem = id;
                for (int n = 2; known.Contains(id); n++) id = $"{stem}-{n}";
            }
            var grain = connection.Grains.GetGrain<IScheduleCoordinatorGrain>(id);
            var watcher = new RunWatcher(console, connection, id);
            RunStatus status;
            if (!known.Contains(id))
            {
                status = await grain.Create(new CreateRun(RunSpecJson.ToJson(built)));
                // The spec leaves the vocabulary to the tokenizer; count the parameters the run will really have.
                var model = built.WithVocabularyOf(Training.Data.TokenizerCatalog.Create(built.Data.Tokenizer)).Model;
                console.MarkupLine($"run [bold]{Markup.Escape(id)}[/] on {Markup.Escape(connection.Where)}: model [bold]{Markup.Escape(model.Preset)}[/] ({model.ParameterCount:N0} parameters); allocator {AllocatorPreload.Current}");
                console.MarkupLine($"schedule [bold]{built.Schedule.Kind}[/] {Markup.Escape(StageLengths(built))}; budget {(built.Budget.IsTokens ? $"{built.Budget.Tokens:N0} tokens" : $"{built.Budget.Seconds:N0} s")}; {built.Schedule.GlobalBatchTokens:N0} tokens per step");
                status = await grain.Start(start);
            }
            else
            {
                status = await ClusterConnection.Read(() => grain.Status());
                switch (status.Lifecycle)
                {
                    case RunLifecycle.Completed:
                        console.MarkupLine($"run [bold]{Markup.Escape(id)}[/] is already completed at step {status.Step} (--fresh starts a new one)");
                        return await Finish(connection, watcher, status, parse);
                    case RunLifecycle.Running or RunLifecycle.Stopping:
                        console.MarkupLine($"run [bold]{Markup.Escape(id)}[/] is already {status.Lifecycle}; watching it");
                        break;
                    default:
                        // The spec is the run's own, from its checkpoint; flags given now do not change it.
                        status = await grain.Resume(start);
                        console.MarkupLine($"resuming run [bold]{Markup.Escape(id)}[/] from step {status.Step} on {Markup.Escape(connection.Where)}");
                        break;
                }
                watcher.SkipHistory(status);
            }
            return await Follow(connection, watcher, status, parse, stop);
        }
    }

    public Command Resume()
    {
        var run = RunArgument();
        var startOver = new Option<bool>("--start-over")
        {
            Description = "Begin again from step 0 when the run has checkpoints and none verifies (resume refuses otherwise, listing each and why). Refused when one verifies.",
        };
        var command = new Command("resume", "Continue a stopped or failed run from its latest complete checkpoint, and watch it.") { run, detach, export, startOver };
        workers.AddTo(command);
        command.SetAction(parse =>
        {
            var start = workers.Request(parse) with { StartOver = parse.GetValue(startOver) };
            return Execute(parse, async (connection, stop) =>
            {
                var id = parse.GetValue(run)!;
                var watcher = new RunWatcher(console, connection, id);
                var status = await connection.Grains.GetGrain<IScheduleCoordinatorGrain>(id).Resume(start);
                // Said before the watch, which shows only what happens from here on.
                if (start.StartOver && status.Events.LastOrDefault(e => e.Kind == RunEventKind.StartedOver) is { } over)
                    console.MarkupLine(RunWatcher.EventLine(over));
                console.MarkupLine($"resuming run [bold]{Markup.Escape(id)}[/] from step {status.Step} on {Markup.Escape(connection.Where)}");
                watcher.SkipHistory(status);
                return await Follow(connection, watcher, status, parse, stop);
            }, WorkerOptions.Slots(start));
        });
        return command;
    }

    public Command Watch()
    {
        var run = RunArgument();
        var command = new Command("watch", "Follow a run's progress until it ends (Ctrl+C ends the watch, not the run).") { run };
        command.SetAction(parse => Execute(parse, async (connection, stop) =>
        {
            var id = parse.GetValue(run)!;
            var grain = connection.Grains.GetGrain<IScheduleCoordinatorGrain>(id);
            var status = await ClusterConnection.Read(() => grain.Status());
            console.MarkupLine($"watching run [bold]{Markup.Escape(id)}[/] on {Markup.Escape(connection.Where)}");
            var (last, interrupted) = await new RunWatcher(console, connection, id).Watch(stop, stopOnInterrupt: false);
            if (interrupted) return ExitCodes.Interrupted;
            return last.Lifecycle == RunLifecycle.Failed ? Failed(last) : ExitCodes.Success;
        }));
        return command;
    }

    public Command Status()
    {
        var run = RunArgument();
        var json = JsonOption();
        var command = new Command("status", "Show a run's state, progress, stages, checkpoint and workers.") { run, json };
        command.SetAction(parse => Execute(parse, async (connection, _) =>
        {
            var id = parse.GetValue(run)!;
            var grain = connection.Grains.GetGrain<IScheduleCoordinatorGrain>(id);
            var status = await ClusterConnection.Read(() => grain.Status());
            var evaluations = await ClusterConnection.Read(() => grain.Evaluations());
            if (parse.GetValue(json))
                console.Profile.Out.Writer.WriteLine(StatusJson.Write(StatusJson.Of(status, evaluations.LastOrDefault(), await ClusterConnection.Read(() => grain.Events(0)))));
            else ReportTables.WriteStatus(console, status, evaluations.LastOrDefault());
            return ExitCodes.Success;
        }));
        return command;
    }

    public Command Stop()
    {
        var run = RunArgument();
        var command = new Command("stop", "Stop a run gracefully: the workers checkpoint after the current step (resume continues it).") { run };
        command.SetAction(parse => Execute(parse, async (connection, _) =>
        {
            var id = parse.GetValue(run)!;
            var status = await connection.Grains.GetGrain<IScheduleCoordinatorGrain>(id).Stop();
            console.MarkupLine($"run [bold]{Markup.Escape(id)}[/] is {status.Lifecycle} at step {status.Step}; it checkpoints after the current step");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>`scale`: a live run's new target worker count (and bounds); it takes effect at a step boundary.</summary>
    public Command Scale()
    {
        var run = RunArgument();
        var target = new Option<int>("--workers") { Description = "The new target worker count (one per device slot).", Required = true };
        var min = new Option<int?>("--min-workers") { Description = "The new fewest workers the run goes on with after a loss (default: unchanged)." };
        var max = new Option<int?>("--max-workers") { Description = "The new most workers a later scale may ask for (default: unchanged)." };
        var command = new Command("scale", "Change a running run's target worker count: workers join or leave at the next step boundary.") { run, target, min, max };
        command.SetAction(parse =>
        {
            var id = parse.GetValue(run)!;
            var workers = parse.GetValue(target);
            if (workers == 0)
                throw new RunInputException("--workers", $"scaling to 0 workers would leave the run nothing to train on; `growlength stop {id}` stops it with a checkpoint.");
            WorkerOptions.Check(workers, parse.GetValue(min), parse.GetValue(max));
            return Execute(parse, async (connection, _) =>
            {
                var status = await connection.Grains.GetGrain<IScheduleCoordinatorGrain>(id).Scale(new ScaleRun(workers, parse.GetValue(min) ?? 0, parse.GetValue(max) ?? 0));
                console.MarkupLine($"run [bold]{Markup.Escape(id)}[/]: target [bold]{status.TargetWorkers}[/] workers (min {status.MinWorkers}, max {status.MaxWorkers}); "
                    + $"{status.WorldSize} now, at step {status.Step}; workers join or leave at a step boundary");
                return ExitCodes.Success;
            });
        });
        return command;
    }

    public Command List()
    {
        var json = JsonOption();
        var command = new Command("list", "List the runs the cluster knows.") { json };
        command.SetAction(parse => Execute(parse, async (connection, _) =>
        {
            var ids = await ClusterConnection.Read(() => connection.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).List());
            var statuses = new List<RunStatus>();
            foreach (var id in ids) statuses.Add(await ClusterConnection.Read(() => connection.Grains.GetGrain<IScheduleCoordinatorGrain>(id).Status()));
            if (parse.GetValue(json))
            {
                var runs = new List<StatusJson.Run>();
                foreach (var s in statuses)
                {
                    var grain = connection.Grains.GetGrain<IScheduleCoordinatorGrain>(s.RunId);
                    var evaluations = await ClusterConnection.Read(() => grain.Evaluations());
                    runs.Add(StatusJson.Of(s, evaluations.LastOrDefault(), await ClusterConnection.Read(() => grain.Events(0))));
                }
                console.Profile.Out.Writer.WriteLine(StatusJson.Write(runs));
            }
            else if (statuses.Count == 0) console.WriteLine("no runs yet (`growlength run` starts one)");
            else ReportTables.WriteList(console, statuses);
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Option<bool> JsonOption() => new("--json") { Description = "Print JSON (docs/status-json.md) instead of the table." };

    /// <summary>Connects (or starts the embedded silo with <paramref name="slots"/> device slots), runs <paramref name="work"/>
    /// with a graceful-stop token, disconnects.</summary>
    private int Execute(ParseResult parse, Func<ClusterConnection, CancellationToken, Task<int>> work, int slots = 1) =>
        ExecuteAsync(parse, work, slots).GetAwaiter().GetResult();

    private async Task<int> ExecuteAsync(ParseResult parse, Func<ClusterConnection, CancellationToken, Task<int>> work, int slots)
    {
        var gateways = Gateways(parse, cluster);
        if (gateways.Count == 0 && parse.CommandResult.GetResult(detach) is { Implicit: false } && parse.GetValue(detach))
            throw new RunInputException("--detach", "needs --cluster: the embedded silo ends with this program, and the run with it.");
        return await WithConnection(gateways, gateways.Count > 0 ? tls.Load(parse) : null, parse.GetValue(home)!.FullName, slots, work);
    }

    /// <summary>Opens the cluster at <paramref name="gateways"/> (with mutual TLS when <paramref name="certificates"/> are
    /// given), or starts the embedded silo with <paramref name="slots"/> device slots when there are none; runs
    /// <paramref name="work"/> with a graceful-stop token (Ctrl+C, SIGTERM), closes it.</summary>
    public static async Task<int> WithConnection(IReadOnlyList<string> gateways, Grains.Hosting.ClusterCertificates? certificates, string homeFolder, int slots,
        Func<ClusterConnection, CancellationToken, Task<int>> work)
    {
        if (slots < 1) throw new RunInputException("--workers", $"must be at least 1 (is {slots}).");
        using var stop = new StopSignal();
        await using var connection = await ClusterConnection.Open(gateways, homeFolder, slots, certificates, stop.Token);
        return await work(connection, stop.Token);
    }

    /// <summary>The gateways given with --cluster (each may list several, comma-separated).</summary>
    public static List<string> Gateways(ParseResult parse, Option<string[]> cluster) =>
        (parse.GetValue(cluster) ?? []).SelectMany(g => g.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();

    /// <summary>Watches a started run to its end (or returns at once when detached), then reports.</summary>
    private async Task<int> Follow(ClusterConnection connection, RunWatcher watcher, RunStatus status, ParseResult parse, CancellationToken stop)
    {
        if (parse.GetValue(detach))
        {
            console.MarkupLine($"run [bold]{Markup.Escape(status.RunId)}[/] is {status.Lifecycle} on {status.WorldSize} workers; `growlength watch {Markup.Escape(status.RunId)} --cluster {Markup.Escape(connection.Where)}` follows it");
            return ExitCodes.Success;
        }
        var (last, _) = await watcher.Watch(stop, stopOnInterrupt: true);
        switch (last.Lifecycle)
        {
            case RunLifecycle.Stopped:
                // One --cluster per gateway, as the command was given: the line works when pasted.
                var how = connection.ViaHome ? $"--home {parse.GetValue(home)!.FullName}" : string.Join(" ", Gateways(parse, cluster).Select(g => $"--cluster {g}"));
                console.MarkupLine($"stopped at step {last.Step} (checkpoint at step {last.LastCheckpointStep}); `growlength resume {Markup.Escape(last.RunId)} {Markup.Escape(how)}` continues it");
                return ExitCodes.Interrupted;
            case RunLifecycle.Failed:
                return Failed(last);
            default:
                return await Finish(connection, watcher, last, parse);
        }
    }

    /// <summary>A completed run: the per-stage table, then the evaluation of its latest checkpoint (and the export).</summary>
    private async Task<int> Finish(ClusterConnection connection, RunWatcher watcher, RunStatus status, ParseResult parse)
    {
        ReportTables.WriteStages(console, RunReport.Stages(status, watcher.Records));
        var latest = await ClusterConnection.Read(() => connection.Grains.GetGrain<ICheckpointGrain>(status.RunId).Latest());
        if (latest is null)
        {
            console.MarkupLine("[yellow]no complete checkpoint to evaluate[/]");
            return ExitCodes.Success;
        }
        if (!Directory.Exists(latest.Folder))
        {
            console.MarkupLine($"[yellow]evaluation skipped: the checkpoint folder {Markup.Escape(latest.Folder)} is not reachable from this machine[/]");
            return ExitCodes.Success;
        }
        console.MarkupLine($"evaluating the checkpoint at step {latest.Step} on the validation split");
        using var logging = GrowLengthCli.Logging(quiet: true);
        var exportFolder = parse.GetResult(export) is null ? null : parse.GetValue(export)?.FullName;
        var (results, exported) = await Task.Run(() => RunReport.Evaluate(latest, connection.CorpusCacheFolder, exportFolder, logging.CreateLogger("growlength"), connection.CorpusLimits));
        ReportTables.WriteEvaluation(console, results);
        if (exported.Count > 0) console.MarkupLine($"exported {string.Join(", ", exported.Select(Markup.Escape))}");
        return ExitCodes.Success;
    }

    private static int Failed(RunStatus status)
    {
        Console.Error.WriteLine($"error: run {status.RunId} failed at step {status.Step}: {status.Reason}");
        return ExitCodes.Failure;
    }

    private static string StageLengths(RunSpec spec)
    {
        var s = spec.Schedule;
        IReadOnlyList<int> lengths = s.Kind switch
        {
            ScheduleKinds.GrowLength or ScheduleKinds.Adaptive => s.StageLengthsOrDefault(),
            ScheduleKinds.Fixed => [s.MaxLength],
            _ => [s.MinLength, s.MaxLength],
        };
        return string.Join(" → ", lengths);
    }
}
