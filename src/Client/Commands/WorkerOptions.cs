using System.CommandLine;
using GrowLength.Grains;
using GrowLength.Training;

namespace GrowLength.Client.Commands;

/// <summary>The options that say how many workers a run trains on and how it heals: --workers (the target),
/// --min-workers, --max-workers and --step-deadline, checked before anything connects.</summary>
/// <param name="workersDescription">the --workers help text (its default differs between commands).</param>
/// <param name="defaultWorkers">--workers when it is not given; null makes the caller supply it (chaos: --silos).</param>
internal sealed class WorkerOptions(string workersDescription = "Workers (one per device slot) to train on (default 1); the run grows back to this many after a loss.", int? defaultWorkers = 1)
{
    public Option<int?> Workers { get; } = new("--workers") { Description = workersDescription };

    public Option<int?> MinWorkers { get; } = new("--min-workers")
    {
        Description = "The fewest workers the run goes on with after a loss (default 1); below it, it reloads its last checkpoint once enough device slots are free.",
    };

    public Option<int?> MaxWorkers { get; } = new("--max-workers")
    {
        Description = "The most workers `growlength scale` may ask for (default: --workers). The embedded silo offers this many device slots.",
    };

    public Option<double> StepDeadline { get; } = new("--step-deadline")
    {
        Description = "Seconds a step may take before its workers are checked and the step is given up (default 0: derived from recent step times).",
        DefaultValueFactory = _ => 0,
    };

    public void AddTo(Command command)
    {
        command.Add(Workers);
        command.Add(MinWorkers);
        command.Add(MaxWorkers);
        command.Add(StepDeadline);
    }

    /// <summary>The start request the options make, checked; <paramref name="workersWhenAbsent"/> stands in for a
    /// --workers not given when this instance has no default of its own. Throws RunInputException naming the option.</summary>
    public StartRun Request(ParseResult parse, int? workersWhenAbsent = null)
    {
        var workers = parse.GetValue(Workers) ?? defaultWorkers ?? workersWhenAbsent
            ?? throw new InvalidOperationException("--workers has no default here; pass one.");
        var min = parse.GetValue(MinWorkers);
        var max = parse.GetValue(MaxWorkers);
        var deadline = parse.GetValue(StepDeadline);
        Check(workers, min, max);
        if (!double.IsFinite(deadline) || deadline < 0)
            throw new RunInputException("--step-deadline", $"must be 0 (derived from recent step times) or a positive number of seconds (is {deadline}).");
        // 0 leaves each bound to the coordinator's default (1 and --workers), so a later default change reaches old scripts.
        return new StartRun(workers, min ?? 0, max ?? 0, deadline);
    }

    /// <summary>Device slots an embedded silo needs for <paramref name="request"/>: enough for --max-workers, so a
    /// `growlength scale` up to it finds them.</summary>
    public static int Slots(StartRun request) => Math.Max(request.Workers, request.MaxWorkers);

    /// <summary>The rules --workers, --min-workers and --max-workers (null: not given) follow for start and scale alike.</summary>
    public static void Check(int workers, int? min, int? max)
    {
        if (workers < 1) throw new RunInputException("--workers", $"must be at least 1 (is {workers}).");
        if (min is < 1) throw new RunInputException("--min-workers", $"must be at least 1 (is {min}); leave it out for the default, 1.");
        if (min > workers) throw new RunInputException("--min-workers", $"{min} is above --workers ({workers}).");
        if (max is < 1) throw new RunInputException("--max-workers", $"must be at least 1 (is {max}); leave it out for the default, --workers.");
        if (max < workers) throw new RunInputException("--max-workers", $"{max} is below --workers ({workers}).");
    }
}
