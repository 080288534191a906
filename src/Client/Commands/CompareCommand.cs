using System.CommandLine;
using System.Runtime.InteropServices;
using GrowLength.Grains;
using GrowLength.Training;
using GrowLength.Training.Compare;
using GrowLength.Training.Data;
using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using GrowLength.Client.Reporting;

namespace GrowLength.Client.Commands;

/// <summary>`growlength compare`: the same model, data, seed and optimizer trained under several schedules with an equal
/// budget, each run through the cluster like any other; then plots and tables of validation loss at the longest length
/// against time and tokens, perplexity per length, loss around length changes and the time-to-baseline speed-up.</summary>
internal sealed class CompareCommand(IAnsiConsole console, Option<DirectoryInfo> home, Option<string[]> cluster, ClientTlsOptions tls)
{
    private readonly RunSpecOptions spec = new("compare");
    private readonly Option<string> schedules = new("--schedules")
    {
        Description = $"Comma-separated schedules to compare: {CompareArm.KnownNames}.",
        DefaultValueFactory = _ => string.Join(",", CompareArm.DefaultNames),
    };
    private readonly Option<string?> budget = new("--budget") { Description = "Training time per run (equal wall-clock), e.g. 90s, 2m, 1h. The default when --tokens is not given: 2m." };
    private readonly Option<string?> tokens = new("--tokens") { Description = "Train every run on this many tokens instead (equal tokens), e.g. 4M." };
    private readonly Option<int> repeats = new("--repeats") { Description = "Runs of each schedule; repeat r of every schedule uses seed + r − 1.", DefaultValueFactory = _ => 1 };
    private readonly Option<int> points = new("--eval-points") { Description = "Validation points per run, besides the untrained model's.", DefaultValueFactory = _ => 12 };
    private readonly Option<DirectoryInfo?> output = new("--out") { Description = "Folder for the plots and tables (default: compare-<date-time>); must not hold a comparison already." };
    private readonly Option<int> workers = new("--workers") { Description = "Workers (one per device slot) each run trains on.", DefaultValueFactory = _ => 1 };

    public Command Create()
    {
        var command = new Command("compare", "Train the same model under several schedules with an equal time (or token) budget and compare validation loss at the longest length: PNG plots, a Markdown and a JSON table.")
        {
            schedules, budget, tokens, repeats, points, output, workers,
        };
        spec.AddTo(command);
        command.SetAction(parse =>
        {
            // Every setting is checked before anything starts or is written.
            var plan = Plan(parse);
            var gateways = RunCommands.Gateways(parse, cluster);
            // On this machine (embedded silo) a time budget too short for one step is found before anything starts.
            if (gateways.Count == 0 && !plan.Base.Budget.IsTokens) CheckOneStepFits(plan.Base);
            return RunCommands.WithConnection(gateways, gateways.Count > 0 ? tls.Load(parse) : null, parse.GetValue(home)!.FullName, parse.GetValue(workers),
                (connection, stop) => Execute(plan, connection, stop)).GetAwaiter().GetResult();
        });
        return command;
    }

    private sealed record ComparePlan(RunSpec Base, IReadOnlyList<CompareArm> Arms, int Repeats, string Folder, int Workers, string CommandLine, string BudgetText);

    private ComparePlan Plan(ParseResult parse)
    {
        var @base = spec.Build(parse);
        var timeText = parse.GetValue(budget);
        var tokenText = parse.GetValue(tokens);
        if (timeText is not null && tokenText is not null) throw new RunInputException("--tokens", "give --budget (time) or --tokens, not both.");
        var n = parse.GetValue(points);
        if (n < 1) throw new RunInputException("--eval-points", $"must be at least 1 (is {n}).");
        var r = parse.GetValue(repeats);
        if (r < 1) throw new RunInputException("--repeats", $"must be at least 1 (is {r}).");
        string budgetText;
        if (tokenText is not null)
        {
            var count = Quantities.Count(tokenText, "--tokens");
            if (count < @base.Schedule.GlobalBatchTokens)
                throw new RunInputException("--tokens", $"{count:N0} tokens is less than one step ({@base.Schedule.GlobalBatchTokens:N0} tokens, schedule.globalBatchTokens).");
            var steps = count / @base.Schedule.GlobalBatchTokens;
            @base = @base with
            {
                Budget = new BudgetConfig { Tokens = count },
                Eval = @base.Eval with { EverySteps = (int)Math.Max(1, steps / n), EverySeconds = 0 },
            };
            budgetText = $"{count:N0} tokens";
        }
        else
        {
            var seconds = Quantities.Seconds(timeText ?? "2m", "--budget");
            @base = @base with
            {
                Budget = new BudgetConfig { Seconds = seconds },
                Eval = @base.Eval with { EverySeconds = seconds / n, EverySteps = 0 },
            };
            budgetText = $"{seconds:0.#} s of training";
        }
        var arms = CompareArm.CreateAll(parse.GetValue(schedules)!.Split(','), @base.Validated(), "--schedules");

        var folder = (parse.GetValue(output) ?? new DirectoryInfo($"compare-{DateTime.Now:yyyyMMdd-HHmmss}")).FullName;
        if (File.Exists(folder)) throw new RunInputException("--out", $"{folder} is a file; give a folder.");
        if (File.Exists(Path.Combine(folder, JsonFile))) throw new RunInputException("--out", $"{folder} already holds a comparison ({JsonFile}); give another folder.");
        var line = "growlength " + string.Join(" ", parse.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value));
        return new ComparePlan(@base, arms, r, folder, parse.GetValue(workers), line, budgetText);
    }

    private const string JsonFile = "compare.json";
    private const string MarkdownFile = "compare.md";

    private async Task<int> Execute(ComparePlan plan, ClusterConnection connection, CancellationToken stop)
    {
        var b = plan.Base;
        var tokenizer = TokenizerCatalog.Create(b.Data.Tokenizer);
        var model = b.WithVocabularyOf(tokenizer).Model;

        Directory.CreateDirectory(plan.Folder);
        var settings = new CompareSettings(plan.CommandLine, DateTimeOffset.UtcNow,
            $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, allocator {AllocatorPreload.Current}, {connection.Where}",
            model.Preset, model.ParameterCount, tokenizer.Name, plan.BudgetText, b.Schedule.GlobalBatchTokens, b.CurveLength, b.Eval.MaxWindows,
            [.. plan.Arms.Select(a => a.Name)], plan.Repeats, b.Seed, b.Optimizer.PeakLearningRate);
        console.MarkupLine($"comparing [bold]{Markup.Escape(string.Join(", ", settings.Schedules))}[/] × {plan.Repeats} on {Markup.Escape(connection.Where)}: "
            + $"model [bold]{Markup.Escape(model.Preset)}[/] ({model.ParameterCount:N0} parameters), {Markup.Escape(plan.BudgetText)} each, validation at length {b.CurveLength}; results in {Markup.Escape(plan.Folder)}");

        var registry = connection.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key);
        var results = new List<CompareRunResult>();
        using var logging = GrowLengthCli.Logging(quiet: true);
        // Repeats outermost: the machine's slow spells spread over every schedule instead of landing on one.
        for (int repeat = 1; repeat <= plan.Repeats; repeat++)
        {
            foreach (var arm in plan.Arms)
            {
                var known = await ClusterConnection.Read(() => registry.List());
                var id = UniqueId($"{b.Name}-{arm.Name}-r{repeat}", known);
                var runSpec = arm.Spec with { Name = id, Seed = b.Seed + repeat - 1 };
                console.MarkupLine($"[bold]{Markup.Escape(arm.Name)}[/] repeat {repeat}/{plan.Repeats}: run [bold]{Markup.Escape(id)}[/] (seed {runSpec.Seed})");
                var grain = connection.Grains.GetGrain<IScheduleCoordinatorGrain>(id);
                await grain.Create(new CreateRun(RunSpecJson.ToJson(runSpec)));
                var status = await grain.Start(new StartRun(plan.Workers));
                var watcher = new RunWatcher(console, connection, id) { StatusIntervalSeconds = 15 };
                (status, var interrupted) = await watcher.Watch(stop, stopOnInterrupt: true);
                if (status.Lifecycle == RunLifecycle.Failed)
                {
                    Write(settings, results, plan.Folder);
                    Console.Error.WriteLine($"error: run {id} failed at step {status.Step}: {status.Reason}");
                    return ExitCodes.Failure;
                }
                if (interrupted || status.Lifecycle != RunLifecycle.Completed)
                {
                    var written = Write(settings, results, plan.Folder);
                    console.MarkupLine($"[yellow]stopped during {Markup.Escape(id)}; the {results.Count} completed run(s) are in {Markup.Escape(written)}[/]");
                    return ExitCodes.Interrupted;
                }
                var result = await Collect(connection, grain, status, watcher, arm.Name, repeat, runSpec, logging.CreateLogger("growlength"));
                results.Add(result);
                console.MarkupLine($"  {result.Tokens:N0} tokens in {result.Seconds:F1} s; validation loss at {result.CurveLength}: {result.FinalLoss:F4}{ReportTables.PlusMinus(result.FinalStandardError)} (perplexity {Math.Exp(result.FinalLoss):F3})");
                Write(settings, results, plan.Folder);
            }
        }
        var report = CompareReport.Of(settings, results);
        WriteSummary(report);
        console.MarkupLine($"wrote {Markup.Escape(Path.Combine(plan.Folder, MarkdownFile))}, {JsonFile} and the plots");
        return ExitCodes.Success;
    }

    /// <summary>A time budget shorter than one step would end every run after its first step, measuring nothing.
    /// One micro-batch at the first length, timed twice (the first pays one-off allocations), times the step's
    /// micro-batches estimates a step.</summary>
    private static void CheckOneStepFits(RunSpec b)
    {
        var schedule = b.Schedule;
        var model = b.WithVocabularyOf(TokenizerCatalog.Create(b.Data.Tokenizer)).Model;
        using var engine = new StepEngine(model, b.Seed, Devices.Resolve(b.Device));
        engine.Preflight(schedule.MinLength, schedule.MicroBatchTokens);
        var micro = engine.Preflight(schedule.MinLength, schedule.MicroBatchTokens);
        var step = micro * BatchPlan.For(schedule.MinLength, schedule.GlobalBatchTokens, schedule.MicroBatchTokens).MicroBatchesForRank(0, 1).Count;
        if (b.Budget.Seconds < step)
            throw new RunInputException("--budget", $"{b.Budget.Seconds:0.######} s is shorter than one training step (about {step:F1} s at length {schedule.MinLength} measured here); give a longer budget.");
    }

    private static string UniqueId(string stem, IReadOnlyCollection<string> known)
    {
        var id = stem;
        for (int n = 2; known.Contains(id); n++) id = $"{stem}-{n}";
        return id;
    }

    /// <summary>The run's curve, length changes and step losses from the coordinator and the watcher, and the final
    /// model's loss per evaluation length from its last checkpoint (when this machine can read it).</summary>
    private async Task<CompareRunResult> Collect(ClusterConnection connection, IScheduleCoordinatorGrain grain, RunStatus status, RunWatcher watcher,
        string schedule, int repeat, RunSpec runSpec, ILogger logger)
    {
        var curve = (await ClusterConnection.Read(() => grain.Evaluations()))
            .Select(e => new CurvePoint(e.Steps, e.Tokens, e.ElapsedSeconds, e.Loss, e.StandardError) { TransitionOffset = e.TransitionOffset }).ToList();
        var lengths = status.Transitions.Select(t => new LengthChange(t.Stage, t.Length, t.Step, t.Tokens, t.ElapsedSeconds)).ToList();
        var steps = watcher.Records.Values.Select(r => new StepLoss(r.Step, r.Length, r.Loss)).ToList();
        IReadOnlyList<EvalResult> final = [];
        var trained = lengths.Count == 0 ? runSpec.Schedule.MinLength : lengths.Max(l => l.Length);
        var latest = await ClusterConnection.Read(() => connection.Grains.GetGrain<ICheckpointGrain>(status.RunId).Latest());
        if (latest is not null && Directory.Exists(latest.Folder))
            final = (await Task.Run(() => RunReport.Evaluate(latest, connection.CorpusCacheFolder, null, logger, connection.CorpusLimits))).Results;
        else
            console.MarkupLine("[yellow]  the final checkpoint is not reachable from this machine: no per-length table for this run[/]");
        return new CompareRunResult(schedule, repeat, runSpec.Seed, status.RunId, status.Step, status.Tokens, status.ElapsedSeconds,
            runSpec.CurveLength, curve, lengths, steps, final, trained);
    }

    /// <summary>Writes the tables and plots of the runs so far (after every run, so a crash keeps what finished); returns the Markdown's path.</summary>
    private static string Write(CompareSettings settings, IReadOnlyList<CompareRunResult> runs, string folder)
    {
        var report = CompareReport.Of(settings, runs);
        var plots = runs.Count > 0 ? ComparePlots.Write(report, folder) : [];
        File.WriteAllText(Path.Combine(folder, JsonFile), report.ToJson());
        var markdown = Path.Combine(folder, MarkdownFile);
        File.WriteAllText(markdown, report.ToMarkdown(plots));
        return markdown;
    }

    private void WriteSummary(CompareReport report)
    {
        var s = report.Settings;
        var table = new Table().Title($"Validation loss at length {s.CurveLength} ({s.Budget} per run; mean over repeats)")
            .AddColumns("schedule", "runs", "tokens", "final loss", "perplexity", "s to baseline loss", "speed-up", "reached");
        foreach (var x in report.Summaries)
            table.AddRow(x.Schedule, $"{x.Repeats}", $"{x.Tokens.Mean:N0}", $"{x.FinalLoss.Mean:F4}", $"{x.FinalPerplexity.Mean:F3}",
                x.SecondsToTarget.Count == 0 ? "–" : $"{x.SecondsToTarget.Mean:F1}", x.SpeedUp.Count == 0 ? "–" : $"{x.SpeedUp.Mean:F2}x",
                report.Targets.Count == 0 ? "–" : $"{x.Reached}/{x.Repeats}");
        console.Write(table);
    }
}
