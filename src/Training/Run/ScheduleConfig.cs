using System.Globalization;

namespace GrowLength.Training.Run;

/// <summary>The <c>schedule</c> section: how the sequence length grows and how many tokens each step carries.</summary>
public sealed record ScheduleConfig
{
    /// <summary>Tolerance on the sum of <see cref="Shares"/>; config files write shares as short decimals.</summary>
    public const double ShareSumTolerance = 1e-6;

    /// <summary>Schedule kind: growlength, fixed, linear, root or adaptive (see <see cref="ScheduleKinds"/>).</summary>
    public string Kind { get; init; } = ScheduleKinds.GrowLength;

    /// <summary>Shortest training length; the first stage of growlength/adaptive by default, the start of linear/root.</summary>
    public int MinLength { get; init; } = 128;

    /// <summary>Longest training length; the last stage, the end of linear/root, the only length of fixed.</summary>
    public int MaxLength { get; init; } = 2048;

    /// <summary>Explicit stage lengths for growlength/adaptive (strictly increasing, within [minLength, maxLength]); null means doubling from minLength, ending at maxLength.</summary>
    public int[]? Lengths { get; init; }

    /// <summary>Budget share per stage for growlength (and the cap per stage for adaptive); each above 0, summing to 1; null means equal shares for growlength and no cap for adaptive.</summary>
    public double[]? Shares { get; init; }

    /// <summary>linear/root: the share of the budget over which the length rises from minLength to maxLength.</summary>
    public double WarmupFraction { get; init; } = 0.5;

    /// <summary>linear/root: lengths are rounded down to a multiple of this (never below minLength), so the kernels see few distinct shapes.</summary>
    public int LengthMultiple { get; init; } = 64;

    /// <summary>adaptive: relative improvement of the smoothed loss over its best that counts as progress.</summary>
    public double AdaptiveMargin { get; init; } = 0.01;

    /// <summary>adaptive: steps without such an improvement before the next stage starts.</summary>
    public int AdaptivePatience { get; init; } = 50;

    /// <summary>adaptive: EMA factor of the smoothed loss (weight of the previous value).</summary>
    public double AdaptiveSmoothing { get; init; } = 0.9;

    /// <summary>Tokens per optimizer step, the same at every length and worker count (rows = tokens / length).</summary>
    public long GlobalBatchTokens { get; init; } = 65536;

    /// <summary>Tokens per forward/backward micro-batch: the memory bound that sets gradient accumulation.</summary>
    public long MicroBatchTokens { get; init; } = 16384;

    /// <summary>The stage lengths of a staged kind: <see cref="Lengths"/>, or doubling from minLength with maxLength last.</summary>
    public IReadOnlyList<int> StageLengthsOrDefault()
    {
        if (Lengths is not null)
        {
            return [.. Lengths];
        }

        // Doubling follows the GrowLength paper's 128 -> 256 -> ... ladder; a max that is not
        // min times a power of two still ends the ladder, so the run always reaches it.
        var lengths = new List<int>();
        for (long length = Math.Max(1, MinLength); length < MaxLength; length *= 2)
        {
            lengths.Add((int)length);
        }

        lengths.Add(MaxLength);
        return lengths;
    }

    /// <summary>All problems with this section, each naming its setting under <paramref name="path"/>.</summary>
    public IReadOnlyList<RunInputException> Validate(string path = "schedule")
    {
        var errors = new List<RunInputException>();
        string P(string name) => ConfigErrors.Join(path, name);
        static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

        var kind = ScheduleKinds.Normalize(Kind);
        if (kind is null)
        {
            errors.Add(new RunInputException(P("kind"), $"'{Kind}' is not a known kind; use one of {string.Join(", ", ScheduleKinds.All)}"));
        }

        var lengthsOk = true;
        if (MinLength < 1)
        {
            errors.Add(new RunInputException(P("minLength"), $"{MinLength} is below 1"));
            lengthsOk = false;
        }

        if (MaxLength < 1)
        {
            errors.Add(new RunInputException(P("maxLength"), $"{MaxLength} is below 1"));
            lengthsOk = false;
        }

        if (lengthsOk && MinLength > MaxLength)
        {
            errors.Add(new RunInputException(P("minLength"), $"{MinLength} is above {P("maxLength")} ({MaxLength})"));
            lengthsOk = false;
        }

        var staged = kind is ScheduleKinds.GrowLength or ScheduleKinds.Adaptive;
        if (kind is not null && !staged)
        {
            // Silently ignoring a stage list would train something other than what the user wrote.
            if (Lengths is not null)
            {
                errors.Add(new RunInputException(P("lengths"), $"applies only to kinds {ScheduleKinds.GrowLength} and {ScheduleKinds.Adaptive}, not {kind}"));
            }

            if (Shares is not null)
            {
                errors.Add(new RunInputException(P("shares"), $"applies only to kinds {ScheduleKinds.GrowLength} and {ScheduleKinds.Adaptive}, not {kind}"));
            }
        }

        if (Lengths is not null && staged)
        {
            if (Lengths.Length == 0)
            {
                errors.Add(new RunInputException(P("lengths"), "is empty; list at least one stage length, or leave it out for doubling"));
            }

            for (var i = 0; i < Lengths.Length; i++)
            {
                if (lengthsOk && (Lengths[i] < MinLength || Lengths[i] > MaxLength))
                {
                    errors.Add(new RunInputException(P("lengths"), $"entry {i} ({Lengths[i]}) is outside [{P("minLength")}, {P("maxLength")}] = [{MinLength}, {MaxLength}]"));
                }

                if (i > 0 && Lengths[i] <= Lengths[i - 1])
                {
                    errors.Add(new RunInputException(P("lengths"), $"entry {i} ({Lengths[i]}) is not above entry {i - 1} ({Lengths[i - 1]}); stage lengths must increase"));
                }
            }
        }

        if (Shares is not null && staged)
        {
            var stageCount = Lengths?.Length ?? (lengthsOk ? StageLengthsOrDefault().Count : -1);
            if (stageCount >= 0 && Shares.Length != stageCount)
            {
                errors.Add(new RunInputException(P("shares"), $"has {Shares.Length} entries for {stageCount} stages; give one share per stage"));
            }

            var sharesOk = true;
            for (var i = 0; i < Shares.Length; i++)
            {
                if (!double.IsFinite(Shares[i]) || Shares[i] <= 0)
                {
                    errors.Add(new RunInputException(P("shares"), $"entry {i} ({F(Shares[i])}) is not above 0"));
                    sharesOk = false;
                }
            }

            var sum = Shares.Sum();
            if (sharesOk && Math.Abs(sum - 1) > ShareSumTolerance)
            {
                errors.Add(new RunInputException(P("shares"), $"sum to {F(sum)}, not 1"));
            }
        }

        if (!double.IsFinite(WarmupFraction) || WarmupFraction <= 0 || WarmupFraction > 1)
        {
            errors.Add(new RunInputException(P("warmupFraction"), $"{F(WarmupFraction)} is outside (0, 1]"));
        }

        if (LengthMultiple < 1)
        {
            errors.Add(new RunInputException(P("lengthMultiple"), $"{LengthMultiple} is below 1"));
        }

        if (!double.IsFinite(AdaptiveMargin) || AdaptiveMargin < 0 || AdaptiveMargin >= 1)
        {
            errors.Add(new RunInputException(P("adaptiveMargin"), $"{F(AdaptiveMargin)} is outside [0, 1)"));
        }

        if (AdaptivePatience < 1)
        {
            errors.Add(new RunInputException(P("adaptivePatience"), $"{AdaptivePatience} is below 1"));
        }

        if (!double.IsFinite(AdaptiveSmoothing) || AdaptiveSmoothing < 0 || AdaptiveSmoothing >= 1)
        {
            errors.Add(new RunInputException(P("adaptiveSmoothing"), $"{F(AdaptiveSmoothing)} is outside [0, 1)"));
        }

        // A step and a micro-batch must each hold at least one row at the longest length,
        // or the last stage could not run at all.
        if (GlobalBatchTokens < Math.Max(1, MaxLength))
        {
            errors.Add(new RunInputException(P("globalBatchTokens"), $"{GlobalBatchTokens} is below {P("maxLength")} ({MaxLength}); a step must hold at least one row at the longest length"));
        }

        if (MicroBatchTokens < Math.Max(1, MaxLength))
        {
            errors.Add(new RunInputException(P("microBatchTokens"), $"{MicroBatchTokens} is below {P("maxLength")} ({MaxLength}); a micro-batch must hold at least one row at the longest length"));
        }

        return errors;
    }

    /// <summary>The problem, if any, with training this schedule on a model built for <paramref name="modelMaxLength"/> positions.</summary>
    public IReadOnlyList<RunInputException> ValidateAgainstModel(int modelMaxLength, string path = "schedule", string modelPath = "model")
    {
        // The GrowLength paper relies on RoPE extrapolating from short to long, never beyond what
        // the model was built for at the end of training; the last stage must fit the model.
        return MaxLength > modelMaxLength
            ? [new RunInputException(ConfigErrors.Join(path, "maxLength"), $"{MaxLength} is above {ConfigErrors.Join(modelPath, "maxLength")} ({modelMaxLength})")]
            : [];
    }
}
