using System.Globalization;
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
/// against time and tokens, perplexity per length, loss around length changes and the time-to-baseline speed-up, with
/// 95% intervals over the repeats. With --budgets, the same at several budgets and the speed-up against the budget.</summary>
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
    private readonly Option<string?> budgets = new("--budgets")
    {
        Description = "A budget sweep: comma-separated training times per run, e.g. 1m,2m,4m; every schedule runs at every budget, "
            + "each budget's comparison in its own sub-folder of --out, with sweep.md, sweep.json and speedup-vs-budget.png on top. "
            + "Not with --budget or --tokens.",
    };
    private readonly Option<int> repeats = new("--repeats") { Description = "Runs of each schedule (at each budget); repeat r of every schedule uses seed + r − 1. Three or more give 95% intervals worth reading; one gives none.", DefaultValueFactory = _ => 1 };
    private readonly Option<int> points = new("--eval-points") { Description = "Validation points per run (at every budget), besides the untrained model's.", DefaultValueFactory = _ => 12 };
    private readonly Option<DirectoryInfo?> output = new("--out") { Description = "Folder for the plots and tables (default: compare-<date-time>); must not hold a comparison already." };
    private readonly Option<int> workers = new("--workers") { Description = "Workers (one per device slot) each run trains on.", DefaultValueFactory = _ => 1 };

    public Command Create()
    {
        var command = new Command("compare", "Train the same model under several schedules (default: "
            + string.Join(", ", CompareArm.DefaultNames) + ") with an equal time (or token) budget and compare validation loss at the "
            + "longest length, with 95% intervals over the repeats: PNG plots, a Markdown and a JSON table; --budgets sweeps several budgets.")
        {
            schedules, budget, tokens, budgets, repeats, points, output, workers,
        };
        spec.AddTo(command);
        command.SetAction(parse =>
        {
            // Every setting is checked before anything starts or is written.
            var plan = Plan(parse);
            var gateways = RunCommands.Gateways(parse, cluster);
            // On this machine (embedded silo) a time budget too short for one step is found before anything starts.
            if (gateways.Count == 0 && !plan.Budgets[0].Base.Budget.IsTokens) CheckOneStepFits(plan.Budgets[0].Base, plan.BudgetOption);
            return RunCommands.WithConnection(gateways, gateways.Count > 0 ? tls.Load(parse) : null, parse.GetValue(home)!.FullName, parse.GetValue(workers),
                (connection, stop) => Execute(plan, connection, stop)).GetAwaiter().GetResult();
        });
        return command;
    }

    /// <summary>One budget of a comparison: its spec, arms and folder (the comparison's own, or a sweep's sub-folder).</summary>
    private sealed record BudgetPlan(RunSpec Base, IReadOnlyList<CompareArm> Arms, string Folder, string BudgetText, double? Seconds);

    /// <summary>What a comparison will do; <see cref="Budgets"/> is sorted, the smallest first, and has one entry unless it is a sweep.</summary>
    private sealed record ComparePlan(IReadOnlyList<BudgetPlan> Budgets, bool Sweep, int Repeats, string Folder, int Workers, string CommandLine,
        string BudgetOption)
    {
        public BudgetPlan First => Budgets[0];
    }

    private ComparePlan Plan(ParseResult parse)
    {
        var @base = spec.Build(parse);
        var timeText = parse.GetValue(budget);
        var tokenText = parse.GetValue(tokens);
        var sweepText = parse.GetValue(budgets);
        if (timeText is not null && tokenText is not null) throw new RunInputException("--tokens", "give --budget (time) or --tokens, not both.");
        if (sweepText is not null && (timeText is not null || tokenText is not null))
            throw new RunInputException("--budgets", $"give --budgets (a sweep) or {(timeText is not null ? "--budget" : "--tokens")}, not both.");
        var n = parse.GetValue(points);
        if (n < 1) throw new RunInputException("--eval-points", $"must be at least 1 (is {n}).");
        var r = parse.GetValue(repeats);
        if (r < 1) throw new RunInputException("--repeats", $"must be at least 1 (is {r}).");
        var names = parse.GetValue(schedules)!.Split(',');

        var folder = (parse.GetValue(output) ?? new DirectoryInfo($"compare-{DateTime.Now:yyyyMMdd-HHmmss}")).FullName;
        if (File.Exists(folder)) throw new RunInputException("--out", $"{folder} is a file; give a folder.");
        foreach (var held in new[] { JsonFile, SweepJsonFile })
            if (File.Exists(Path.Combine(folder, held))) throw new RunInputException("--out", $"{folder} already holds a comparison ({held}); give another folder.");
        var line = "growlength " + string.Join(" ", parse.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value));

        if (sweepText is not null)
        {
            var plans = ParseBudgets(sweepText).Select(seconds =>
                ForSeconds(@base, seconds, n, names, Path.Combine(folder, BudgetFolder(seconds)))).ToList();
            return new ComparePlan(plans, Sweep: true, r, folder, parse.GetValue(workers), line, "--budgets");
        }
        if (tokenText is not null)
        {
            var count = Quantities.Count(tokenText, "--tokens");
            if (count < @base.Schedule.GlobalBatchTokens)
                throw new RunInputException("--tokens", $"{count:N0} tokens is less than one step ({@base.Schedule.GlobalBatchTokens:N0} tokens, schedule.globalBatchTokens).");
            var steps = count / @base.Schedule.GlobalBatchTokens;
            var counted = @base with
            {
                Budget = new BudgetConfig { Tokens = count },
                Eval = @base.Eval with { EverySteps = (int)Math.Max(1, steps / n), EverySeconds = 0 },
            };
            var arms = CompareArm.CreateAll(names, counted.Validated(), "--schedules");
            return new ComparePlan([new BudgetPlan(counted, arms, folder, $"{count:N0} tokens", null)], Sweep: false, r, folder, parse.GetValue(workers), line, "--tokens");
        }
        var single = ForSeconds(@base, Quantities.Seconds(timeText ?? "2m", "--budget"), n, names, folder);
        return new ComparePlan([single], Sweep: false, r, folder, parse.GetValue(workers), line, "--budget");
    }

    /// <summary>The budget plan for <paramref name="seconds"/> of training per run, validated, with <paramref name="points"/>
    /// evaluations spread over the training time.</summary>
    private static BudgetPlan ForSeconds(RunSpec @base, double seconds, int points, IReadOnlyList<string> names, string folder)
    {
        var timed = @base with
        {
            Budget = new BudgetConfig { Seconds = seconds },
            Eval = @base.Eval with { EverySeconds = seconds / points, EverySteps = 0 },
        };
        var arms = CompareArm.CreateAll(names, timed.Validated(), "--schedules");
        return new BudgetPlan(timed, arms, folder, $"{seconds:0.#} s of training", seconds);
    }

    /// <summary>The budgets of <c>--budgets</c>: durations as --budget takes them, at least one, none twice; sorted, the
    /// smallest first. Throws naming <c>--budgets</c>.</summary>
    internal static IReadOnlyList<double> ParseBudgets(string text)
    {
        var parts = text.Split(',').Select(p => p.Trim()).ToList();
        if (parts.Any(p => p.Length == 0))
            throw new RunInputException("--budgets", $"'{text}' has an empty entry; write durations separated by commas, e.g. 1m,2m,4m.");
        var seconds = parts.Select(p => Quantities.Seconds(p, "--budgets")).ToList();
        // Two budgets that print the same would write the same sub-folder.
        var twice = seconds.GroupBy(BudgetFolder).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new RunInputException("--budgets", $"{twice.Key[BudgetFolderPrefix.Length..]} is listed twice.");
        return [.. seconds.Order()];
    }

    private const string BudgetFolderPrefix = "budget-";

    /// <summary>A sweep's sub-folder for one budget, e.g. budget-120s.</summary>
    internal static string BudgetFolder(double seconds) => BudgetFolderPrefix + seconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";

    private const string JsonFile = "compare.json";
    private const string MarkdownFile = "compare.md";
    private const string SweepJsonFile = "sweep.json";
    private const string SweepMarkdownFile = "sweep.md";

    private async Task<int> Execute(ComparePlan plan, ClusterConnection connection, CancellationToken stop)
    {
        var b = plan.First.Base;
        var tokenizer = TokenizerCatalog.Create(b.Data.Tokenizer);
        var model = b.WithVocabularyOf(tokenizer).Model;

        Directory.CreateDirectory(plan.Folder);
        foreach (var budgetPlan in plan.Budgets) Directory.CreateDirectory(budgetPlan.Folder);
        var machine = $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, allocator {AllocatorPreload.Current}, {connection.Where}";
        CompareSettings SettingsFor(string budgetText) => new(plan.CommandLine, DateTimeOffset.UtcNow, machine,
            model.Preset, model.ParameterCount, tokenizer.Name, budgetText, b.Schedule.GlobalBatchTokens, b.CurveLength, b.Eval.MaxWindows,
            [.. plan.First.Arms.Select(a => a.Name)], plan.Repeats, b.Seed, b.Optimizer.PeakLearningRate);
        var settings = plan.Budgets.Select(p => SettingsFor(p.BudgetText)).ToList();
        var sweepSettings = SettingsFor(string.Join(", ", plan.Budgets.Select(p => $"{p.Seconds:0.###} s")) + " of training");
        var budgetWords = plan.Sweep ? $"at each of {plan.Budgets.Count} budgets ({sweepSettings.Budget})" : $"{plan.First.BudgetText} each";
        console.MarkupLine($"comparing [bold]{Markup.Escape(string.Join(", ", sweepSettings.Schedules))}[/] × {plan.Repeats} on {Markup.Escape(connection.Where)}: "
            + $"model [bold]{Markup.Escape(model.Preset)}[/] ({model.ParameterCount:N0} parameters), {Markup.Escape(budgetWords)}, validation at length {b.CurveLength}; results in {Markup.Escape(plan.Folder)}");

        var registry = connection.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key);
        var results = plan.Budgets.Select(_ => new List<CompareRunResult>()).ToList();
        string WriteAll(int budgetIndex)
        {
            var written = Write(settings[budgetIndex], results[budgetIndex], plan.Budgets[budgetIndex].Folder);
            return plan.Sweep ? WriteSweep(sweepSettings, plan, settings, results) : written;
        }
        using var logging = GrowLengthCli.Logging(quiet: true);
        foreach (var (repeat, budgetIndex, armIndex) in CompareOrder.Runs(plan.Repeats, plan.Budgets.Count, plan.First.Arms.Count))
        {
            var budgetPlan = plan.Budgets[budgetIndex];
            var arm = budgetPlan.Arms[armIndex];
            var known = await ClusterConnection.Read(() => registry.List());
            var stem = plan.Sweep ? $"{b.Name}-{arm.Name}-{BudgetFolder(budgetPlan.Seconds!.Value)[BudgetFolderPrefix.Length..]}-r{repeat}" : $"{b.Name}-{arm.Name}-r{repeat}";
            var id = UniqueId(stem, known);
            var runSpec = arm.Spec with { Name = id, Seed = b.Seed + repeat - 1 };
            var at = plan.Sweep ? $" at {budgetPlan.BudgetText}" : "";
            console.MarkupLine($"[bold]{Markup.Escape(arm.Name)}[/]{Markup.Escape(at)} repeat {repeat}/{plan.Repeats}: run [bold]{Markup.Escape(id)}[/] (seed {runSpec.Seed})");
            var grain = connection.Grains.GetGrain<IScheduleCoordinatorGrain>(id);
            await grain.Create(new CreateRun(RunSpecJson.ToJson(runSpec)));
            var status = await grain.Start(new StartRun(plan.Workers));
            var watcher = new RunWatcher(console, connection, id) { StatusIntervalSeconds = 15 };
            (status, var interrupted) = await watcher.Watch(stop, stopOnInterrupt: true);
            if (status.Lifecycle == RunLifecycle.Failed)
            {
                WriteAll(budgetIndex);
                Console.Error.WriteLine($"error: run {id} failed at step {status.Step}: {status.Reason}");
                return ExitCodes.Failure;
            }
            if (interrupted || status.Lifecycle != RunLifecycle.Completed)
            {
                var written = WriteAll(budgetIndex);
                console.MarkupLine($"[yellow]stopped during {Markup.Escape(id)}; the {results.Sum(x => x.Count)} completed run(s) are in {Markup.Escape(written)}[/]");
                return ExitCodes.Interrupted;
            }
            var result = await Collect(connection, grain, status, watcher, arm.Name, repeat, runSpec, logging.CreateLogger("growlength"));
            results[budgetIndex].Add(result);
            console.MarkupLine($"  {result.Tokens:N0} tokens in {result.Seconds:F1} s; validation loss at {result.CurveLength}: {result.FinalLoss:F4}{ReportTables.PlusMinus(result.FinalStandardError)} (perplexity {Math.Exp(result.FinalLoss):F3})");
            WriteAll(budgetIndex);
        }
        if (plan.Sweep)
        {
            WriteSweepSummary(SweepOf(sweepSettings, plan, settings, results));
            console.MarkupLine($"wrote {Markup.Escape(Path.Combine(plan.Folder, SweepMarkdownFile))}, {SweepJsonFile}, {SweepPlots.FileName} and a comparison per budget ({string.Join(", ", plan.Budgets.Select(p => Path.GetFileName(p.Folder)))})");
            return ExitCodes.Success;
        }
        WriteSummary(CompareReport.Of(settings[0], results[0]));
        console.MarkupLine($"wrote {Markup.Escape(Path.Combine(plan.Folder, MarkdownFile))}, {JsonFile} and the plots");
        return ExitCodes.Success;
    }

    /// <summary>A time budget shorter than one step would end every run after its first step, measuring nothing.
    /// One micro-batch at the first length, times the step's micro-batches, estimates a step. The first pass pays one-off
    /// allocations and is not counted; a timing that a busy machine stretched is not believed alone, so the budget is
    /// refused only when three timings in a row say it is too short.</summary>
    private static void CheckOneStepFits(RunSpec b, string option)
    {
        const int Timings = 3;
        var schedule = b.Schedule;
        var model = b.WithVocabularyOf(TokenizerCatalog.Create(b.Data.Tokenizer)).Model;
        using var engine = new StepEngine(model, b.Seed, Devices.Resolve(b.Device));
        engine.Preflight(schedule.MinLength, schedule.MicroBatchTokens);
        var microBatches = BatchPlan.For(schedule.MinLength, schedule.GlobalBatchTokens, schedule.MicroBatchTokens).MicroBatchesForRank(0, 1).Count;
        double shortest = double.PositiveInfinity;
        for (int i = 0; i < Timings && b.Budget.Seconds < shortest; i++)
            shortest = Math.Min(shortest, engine.Preflight(schedule.MinLength, schedule.MicroBatchTokens) * microBatches);
        if (b.Budget.Seconds < shortest)
            throw new RunInputException(option, $"{b.Budget.Seconds:0.######} s is shorter than one training step (about {shortest:F1} s at length {schedule.MinLength} measured here); give a longer budget.");
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

    /// <summary>The sweep over the budgets with at least one finished run, the sub-folders relative to the sweep's.</summary>
    private static SweepReport SweepOf(CompareSettings sweepSettings, ComparePlan plan, IReadOnlyList<CompareSettings> settings, IReadOnlyList<List<CompareRunResult>> results) =>
        SweepReport.Of(sweepSettings, [.. plan.Budgets.Select((p, i) => (p, i)).Where(x => results[x.i].Count > 0)
            .Select(x => new SweepBudget(x.p.Seconds!.Value, Path.GetFileName(x.p.Folder), CompareReport.Of(settings[x.i], results[x.i])))]);

    /// <summary>Writes the sweep's table, JSON and plot of the runs so far (after every run, like <see cref="Write"/>); returns the Markdown's path.</summary>
    private static string WriteSweep(CompareSettings sweepSettings, ComparePlan plan, IReadOnlyList<CompareSettings> settings, IReadOnlyList<List<CompareRunResult>> results)
    {
        var sweep = SweepOf(sweepSettings, plan, settings, results);
        IReadOnlyList<string> plots = sweep.Rows.Count > 0 ? [SweepPlots.Write(sweep, plan.Folder)] : [];
        File.WriteAllText(Path.Combine(plan.Folder, SweepJsonFile), sweep.ToJson());
        var markdown = Path.Combine(plan.Folder, SweepMarkdownFile);
        File.WriteAllText(markdown, sweep.ToMarkdown(plots));
        return markdown;
    }

    private void WriteSweepSummary(SweepReport sweep)
    {
        var s = sweep.Settings;
        var table = new Table().Title(Markup.Escape($"Speed-up over {CompareArm.Baseline} at each budget (validation loss at length {s.CurveLength}; mean [95% interval] over {s.Repeats} repeat(s))"))
            .AddColumns("budget", "schedule", "final loss", "speed-up, first reached", "reached", "speed-up, sustained", "sustained");
        foreach (var r in sweep.Rows)
            table.AddRow($"{r.BudgetSeconds:0.###} s", r.Schedule, Markup.Escape(r.FinalLoss.Text("F4")), Markup.Escape(r.SpeedUp.Text("F2", "x")),
                $"{r.Reached}/{r.Runs}", Markup.Escape(r.SustainedSpeedUp.Text("F2", "x")), $"{r.Sustained}/{r.Runs}");
        console.Write(table);
        static string Where(double? seconds) => seconds is { } x ? $"{x:0.###} s" : "none";
        console.MarkupLine($"crossover ({Markup.Escape(sweep.Crossover.Schedule)}'s 95% interval above 1x): first reached {Where(sweep.Crossover.FirstReachedSeconds)}, sustained {Where(sweep.Crossover.SustainedSeconds)}");
    }

    private void WriteSummary(CompareReport report)
    {
        var s = report.Settings;
        var table = new Table().Title(Markup.Escape($"Validation loss at length {s.CurveLength} ({s.Budget} per run; mean [95% interval] over repeats)"))
            .AddColumns("schedule", "runs", "tokens", "final loss", "perplexity", "s to baseline loss", "speed-up, first reached", "reached", "speed-up, sustained", "sustained");
        var hasBaseline = report.Targets.Count > 0;
        foreach (var x in report.Summaries)
            table.AddRow(x.Schedule, $"{x.Repeats}", $"{x.Tokens.Mean:N0}", Markup.Escape(x.FinalLoss.Text("F4")), Markup.Escape(x.FinalPerplexity.Text("F3")),
                Markup.Escape(x.SecondsToTarget.Text("F1")), Markup.Escape(x.SpeedUp.Text("F2", "x")), hasBaseline ? $"{x.Reached}/{x.Repeats}" : "–",
                Markup.Escape(x.SustainedSpeedUp.Text("F2", "x")), hasBaseline ? $"{x.Sustained}/{x.Repeats}" : "–");
        console.Write(table);
    }
}
