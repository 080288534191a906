using System.CommandLine;
using GrowLength.Client.Chaos;
using GrowLength.Training;
using Spectre.Console;

namespace GrowLength.Client.Commands;

/// <summary>`growlength chaos`: trains a run on silo processes of its own and kills, terminates and adds silos while it
/// trains, by a script or at seeded random times; then reports how the run took it (time to the next step, detection,
/// tokens retrained, memory, the ledger check).</summary>
internal sealed class ChaosCommand(IAnsiConsole console, Option<DirectoryInfo> home, Option<string[]> cluster)
{
    private readonly RunSpecOptions spec = new();
    private readonly WorkerOptions workers = new("Workers to train on (default: --silos); the run grows back to this many after a loss.", defaultWorkers: null);
    private readonly Option<int> silos = new("--silos") { Description = "Silo processes to start, one device slot each; with development clustering the first is the primary, which is never killed.", DefaultValueFactory = _ => 3 };
    private readonly Option<string?> postgres = new("--postgres")
    {
        Description = "Npgsql connection string of a PostgreSQL database: the silos keep membership and state there (GrowLength:Clustering=postgres), "
            + "so any silo may be killed, the first one included.",
    };
    private readonly Option<string?> runId = new("--run-id") { Description = "The run's id (default: the spec's name)." };
    private readonly Option<string?> script = new("--script")
    {
        Description = "Actions at given steps, separated by ';': kill rank R at step S (SIGKILL the silo of that rank's worker), "
            + "leave rank R at step S (SIGTERM it), join at step S (start one more silo). E.g. \"kill rank 1 at step 5; join at step 12\".",
    };
    private readonly Option<string?> duration = new("--duration") { Description = "Stop the run gracefully after this much time from its start, e.g. 20m (needed with --kill-every)." };
    private readonly Option<string?> killEvery = new("--kill-every") { Description = "Random kills instead of a script: kill a random non-primary silo hosting a worker every U(interval), e.g. 60s-120s." };
    private readonly Option<int?> seed = new("--seed") { Description = "Seed of the random kills' times and victims (default 1): the same seed gives the same plan." };
    private readonly Option<string?> restartAfter = new("--restart-after") { Description = "With --kill-every: start a replacement silo this long after each kill (default 15s; 0: none)." };
    private readonly Option<string> stallTimeout = new("--stall-timeout") { Description = "Give up on the run when it completes no step for this long.", DefaultValueFactory = _ => "10m" };
    private readonly Option<FileInfo?> report = new("--report") { Description = "Also write the report as JSON to this file." };

    public Command Create()
    {
        var command = new Command("chaos",
            "Train a run on silo processes started for it, kill, stop and add silos while it trains (a script, or seeded random kills), "
            + "and report how it recovered: seconds to the next step, detection, tokens retrained, memory, and the ledger check. Exit 0 when it "
            + "completed (or was stopped after --duration) with an exact ledger.")
        {
            silos, postgres, runId, script, duration, killEvery, seed, restartAfter, stallTimeout, report,
        };
        workers.AddTo(command);
        spec.AddTo(command);
        command.SetAction(parse =>
        {
            // Every setting is checked before a silo starts.
            var settings = Settings(parse);
            return Execute(settings, parse.GetValue(report)?.FullName).GetAwaiter().GetResult();
        });
        return command;
    }

    private ChaosSettings Settings(ParseResult parse)
    {
        if (RunCommands.Gateways(parse, cluster).Count > 0)
            throw new RunInputException("--cluster", "chaos starts (and kills) silos of its own; it does not use a cluster given with --cluster.");
        var built = spec.Build(parse);
        var n = parse.GetValue(silos);
        if (n < 1) throw new RunInputException("--silos", $"must be at least 1 (is {n}).");
        var start = workers.Request(parse, workersWhenAbsent: n);
        var plan = Plan(parse, n);
        var ranks = Math.Max(start.Workers, start.MaxWorkers);
        if (plan.Script.FirstOrDefault(a => a.Rank >= ranks) is { } beyond)
            throw new RunInputException($"--script item '{beyond.Text}'", $"rank {beyond.Rank} is beyond the run's ranks (0 to {ranks - 1} with --workers {start.Workers}{(start.MaxWorkers > start.Workers ? $" and --max-workers {start.MaxWorkers}" : "")}).");
        var stall = Quantities.Seconds(parse.GetValue(stallTimeout)!, "--stall-timeout");
        if (parse.GetValue(report) is { } file && file.Directory is { Exists: false } folder)
            throw new RunInputException("--report", $"the folder {folder.FullName} does not exist.");
        var id = parse.GetValue(runId) ?? built.Name;
        var database = parse.GetValue(postgres);
        if (database is not null)
        {
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(database);
            }
            catch (ArgumentException e)
            {
                throw new RunInputException("--postgres", $"is not an Npgsql connection string: {e.Message}");
            }
        }
        return new ChaosSettings(built, id, n, start, plan, ChaosFolders.Under(parse.GetValue(home)!.FullName, id), stall, database);
    }

    private ChaosPlan Plan(ParseResult parse, int siloCount)
    {
        var scriptText = parse.GetValue(script);
        var interval = parse.GetValue(killEvery);
        double? limit = parse.GetValue(duration) is { } d ? Quantities.Seconds(d, "--duration") : null;
        if (scriptText is not null && interval is not null) throw new RunInputException("--kill-every", "give a --script or random kills (--kill-every), not both.");
        if (scriptText is not null)
        {
            if (parse.GetValue(seed) is not null) throw new RunInputException("--seed", "applies to random kills (--kill-every) only.");
            if (parse.GetValue(restartAfter) is not null) throw new RunInputException("--restart-after", "applies to random kills (--kill-every) only; a script adds silos with join at step S.");
            return ChaosPlan.Scripted(scriptText, limit);
        }
        if (interval is null) throw new RunInputException("--script", "chaos needs a plan: a --script, or --duration with --kill-every for random kills.");
        if (limit is null) throw new RunInputException("--duration", "random kills (--kill-every) need a --duration: how long the run trains under them.");
        if (siloCount < 2) throw new RunInputException("--silos", $"random kills need at least 2 silos (is {siloCount}): the first holds the cluster's membership and is never killed.");
        var (min, max) = RandomChaos.ParseInterval(interval, "--kill-every");
        var restartText = parse.GetValue(restartAfter) ?? "15s";
        double? restart = restartText.Trim() == "0" ? null : Quantities.Seconds(restartText, "--restart-after");
        return ChaosPlan.Randomly(new RandomChaos(limit.Value, min, max, parse.GetValue(seed) ?? 1, restart));
    }

    private async Task<int> Execute(ChaosSettings settings, string? reportFile)
    {
        var gate = new object();
        void Say(string line)
        {
            lock (gate) console.MarkupLine(Markup.Escape(line));
        }

        using var stop = new StopSignal();
        ChaosReport result;
        await using (var runner = new ChaosRunner(settings, Say))
        {
            try
            {
                result = await runner.Run(stop.Token);
            }
            catch (OperationCanceledException) when (stop.Token.IsCancellationRequested)
            {
                Console.Error.WriteLine("error: chaos: interrupted before the run started; every silo it started is killed.");
                return ExitCodes.Interrupted;
            }
            catch (ChaosException e)
            {
                Console.Error.WriteLine($"error: chaos: {e.Message}");
                return ExitCodes.Failure;
            }
        }
        lock (gate) ChaosTables.Write(console, result);
        if (reportFile is not null)
        {
            File.WriteAllText(reportFile, result.ToJson());
            console.MarkupLine($"report written to {Markup.Escape(reportFile)}");
        }
        if (result.Passed) return ExitCodes.Success;
        Console.Error.WriteLine($"error: chaos: {result.Failure}");
        return result.Interrupted ? ExitCodes.Interrupted : ExitCodes.Failure;
    }
}
