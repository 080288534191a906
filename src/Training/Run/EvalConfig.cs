using GrowLength.Training.Model;

namespace GrowLength.Training.Run;

/// <summary>The <c>eval</c> section: validation loss and perplexity per context length.</summary>
public sealed record EvalConfig
{
    /// <summary>Context lengths to evaluate at the end of training; null means doubling from schedule.minLength to
    /// twice schedule.maxLength (beyond the trained length, where the RoPE modes differ).</summary>
    public int[]? Lengths { get; init; }

    /// <summary>RoPE modes to evaluate beyond the trained length: extrapolate, interpolate, ntk.</summary>
    public string[] RopeModes { get; init; } = ["extrapolate", "interpolate", "ntk"];

    /// <summary>Most validation windows per length (each window is one sequence of that length).</summary>
    public int MaxWindows { get; init; } = 16;

    /// <summary>Also measure validation loss at the curve length every this many steps (0: not by steps).</summary>
    public int EverySteps { get; init; }

    /// <summary>Also measure validation loss at the curve length every this many training seconds (0: not by time): the
    /// cadence for curves against wall-clock, where a step's time depends on its length.</summary>
    public double EverySeconds { get; init; }

    /// <summary>Context length of the validation curve; null means schedule.maxLength. A comparison sets it to its longest
    /// length for every schedule, so a fixed short-length baseline is scored on the same windows as the others.</summary>
    public int? CurveLength { get; init; }

    /// <summary>Also measure validation loss at the curve length, on the same windows, around every length change: after
    /// the last step at the old length, and after the first and the second step at the new one. These points do not move
    /// the everySteps/everySeconds cadence. Only for schedules that can change length at most <see cref="MaxTransitions"/>
    /// times.</summary>
    public bool AtTransitions { get; init; }

    /// <summary>With <see cref="AtTransitions"/>: the most length changes a schedule may have (its stage lengths − 1) for
    /// them to be measured. The linear and root warm-ups change length every few steps, where the three points of one
    /// change overlap the next and evaluation would cost more than training; they keep the regular cadence only.</summary>
    public int MaxTransitions { get; init; } = 8;

    /// <summary>True when validation loss is measured during training, not only at the end.</summary>
    public bool MeasuresCurve => EverySteps > 0 || EverySeconds > 0 || AtTransitions;

    /// <summary>The evaluation lengths, defaulted from the schedule's range.</summary>
    public IReadOnlyList<int> LengthsOrDefault(int minLength, int maxLength)
    {
        if (Lengths is not null) return Lengths;
        var lengths = new List<int>();
        for (int length = minLength; length <= 2 * maxLength; length *= 2) lengths.Add(length);
        if (!lengths.Contains(maxLength)) lengths.Add(maxLength);
        lengths.Sort();
        return lengths;
    }

    /// <summary>The RoPE modes as enum values.</summary>
    public IReadOnlyList<RopeScaling> Modes() => RopeModes.Select(ParseMode).ToList();

    /// <summary>Parses one RoPE mode name.</summary>
    public static RopeScaling ParseMode(string name) => name.ToLowerInvariant() switch
    {
        "extrapolate" => RopeScaling.Extrapolate,
        "interpolate" => RopeScaling.Interpolate,
        "ntk" or "ntk-aware" => RopeScaling.NtkAware,
        _ => throw new RunInputException("eval.ropeModes", $"unknown RoPE mode '{name}'; known: extrapolate, interpolate, ntk."),
    };

    /// <summary>Checks the section; errors name the field.</summary>
    public IEnumerable<RunInputException> Validate(string path = "eval")
    {
        if (Lengths is not null)
        {
            if (Lengths.Length == 0) yield return new RunInputException($"{path}.lengths", "must list at least one length.");
            foreach (var length in Lengths)
            {
                if (length < 2) yield return new RunInputException($"{path}.lengths", $"every length must be at least 2 (found {length}).");
            }
        }
        foreach (var mode in RopeModes)
        {
            if (mode.ToLowerInvariant() is not ("extrapolate" or "interpolate" or "ntk" or "ntk-aware"))
                yield return new RunInputException($"{path}.ropeModes", $"unknown RoPE mode '{mode}'; known: extrapolate, interpolate, ntk.");
        }
        if (MaxWindows < 1) yield return new RunInputException($"{path}.maxWindows", $"must be at least 1 (is {MaxWindows}).");
        if (EverySteps < 0) yield return new RunInputException($"{path}.everySteps", $"must be 0 or more (is {EverySteps}).");
        if (!double.IsFinite(EverySeconds) || EverySeconds < 0) yield return new RunInputException($"{path}.everySeconds", $"must be 0 or more seconds (is {EverySeconds}).");
        if (MaxTransitions < 1) yield return new RunInputException($"{path}.maxTransitions", $"must be at least 1 (is {MaxTransitions}); eval.atTransitions=false measures none.");
        if (CurveLength is < 2) yield return new RunInputException($"{path}.curveLength", $"must be at least 2 (is {CurveLength}).");
    }
}
