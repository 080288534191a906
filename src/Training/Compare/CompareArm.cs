using GrowLength.Training.Run;
using GrowLength.Training.Schedules;

namespace GrowLength.Training.Compare;

/// <summary>One schedule of a comparison: its name as the user wrote it and the spec it trains with.</summary>
/// <param name="Name">growlength, fixed-min, fixed-max, fixed-N, linear, two-phase, root or adaptive.</param>
public sealed record CompareArm(string Name, RunSpec Spec)
{
    /// <summary>The schedules <c>compare</c> runs when none are named: the paper's method, both fixed-length baselines,
    /// the peers' linear warm-up, BERT's two phases and the loss-driven growth.</summary>
    public static IReadOnlyList<string> DefaultNames { get; } = ["growlength", "fixed-min", "fixed-max", "linear", "two-phase", "adaptive"];

    /// <summary>The name of the paper's schedule, whose speed-up a budget sweep's crossover is read from.</summary>
    public const string Method = "growlength";

    /// <summary>Budget shares of the two-phase arm's short and long phase: BERT trained 90% of its steps at 128 and the
    /// last 10% at 512 (Devlin et al. 2019).</summary>
    public static IReadOnlyList<double> TwoPhaseShares { get; } = [0.9, 0.1];

    /// <summary>The name of the fixed-maximum baseline, against which time-to-loss speed-ups are measured.</summary>
    public const string Baseline = "fixed-max";

    /// <summary>Every name <see cref="Create"/> accepts, for messages.</summary>
    public const string KnownNames = "growlength, fixed-min, fixed-max, fixed-N (e.g. fixed-512), linear, two-phase, root, adaptive";

    /// <summary>The arm for <paramref name="name"/> from the comparison's <paramref name="base"/> spec: same model, data,
    /// seed, optimizer, budget and evaluation; only the schedule's kind (and for fixed, its one length) differs.
    /// Validation is measured at the base's maximum length and the final table at the base's lengths for every arm, so
    /// the arms are scored on the same held-out tokens. Throws RunInputException naming <paramref name="option"/>.</summary>
    public static CompareArm Create(string name, RunSpec @base, string option)
    {
        var s = @base.Schedule;
        var key = name.Trim().ToLowerInvariant();
        ScheduleConfig schedule = key switch
        {
            "growlength" => s with { Kind = ScheduleKinds.GrowLength },
            "linear" => s with { Kind = ScheduleKinds.Linear },
            "root" => s with { Kind = ScheduleKinds.Root },
            "adaptive" => s with { Kind = ScheduleKinds.Adaptive },
            "two-phase" => TwoPhase(s),
            "fixed-max" => s with { Kind = ScheduleKinds.Fixed, MinLength = s.MaxLength, Lengths = null, Shares = null },
            "fixed-min" => s with { Kind = ScheduleKinds.Fixed, MaxLength = s.MinLength, Lengths = null, Shares = null },
            _ when key.StartsWith("fixed-", StringComparison.Ordinal) && int.TryParse(key["fixed-".Length..], out var length) && length > 0
                => s with { Kind = ScheduleKinds.Fixed, MinLength = length, MaxLength = length, Lengths = null, Shares = null },
            _ => throw new RunInputException(option, $"unknown schedule '{name}'; known: {KnownNames}."),
        };
        var eval = @base.Eval with
        {
            Lengths = [.. @base.EvalLengths],
            CurveLength = @base.Eval.CurveLength ?? s.MaxLength,
        };
        // Repeats differ in seed; the held-out documents must not, or the arms would not be scored on the same tokens.
        var data = @base.Data with { SplitSeed = @base.Data.SplitSeedFor(@base.Seed) };
        var spec = @base with { Schedule = schedule, Eval = eval, Data = data };
        try
        {
            return new CompareArm(key, spec.Validated());
        }
        catch (RunInputException e)
        {
            throw new RunInputException(e.Subject, $"{e.Problem} (schedule {key} of the comparison)");
        }
    }

    /// <summary>BERT's recipe as a two-stage growlength schedule: <see cref="TwoPhaseShares"/> of the budget at
    /// minLength, then maxLength.</summary>
    private static ScheduleConfig TwoPhase(ScheduleConfig s)
    {
        // With one length there is no second phase; the stage list would be refused as "not increasing", which would not
        // tell the user why.
        if (s.MinLength >= s.MaxLength)
            throw new RunInputException("schedule.minLength", $"two-phase needs schedule.minLength ({s.MinLength}) below schedule.maxLength ({s.MaxLength}).");
        return s with { Kind = ScheduleKinds.GrowLength, Lengths = [s.MinLength, s.MaxLength], Shares = [.. TwoPhaseShares] };
    }

    /// <summary>The arms for a comma-separated list; names are unique and at least one is given.</summary>
    public static IReadOnlyList<CompareArm> CreateAll(IEnumerable<string> names, RunSpec @base, string option)
    {
        var arms = new List<CompareArm>();
        foreach (var name in names.Select(n => n.Trim()).Where(n => n.Length > 0))
        {
            var arm = Create(name, @base, option);
            if (arms.Any(a => a.Name == arm.Name)) throw new RunInputException(option, $"schedule '{arm.Name}' is listed twice; use --repeats to run it again.");
            arms.Add(arm);
        }
        if (arms.Count == 0) throw new RunInputException(option, $"names no schedule; known: {KnownNames}.");
        return arms;
    }
}
