using System.Globalization;

namespace GrowLength.Training.Run;

/// <summary>How long a run trains: a number of tokens or a wall-clock time, exactly one of them.</summary>
/// <remarks>
/// The GrowLength paper (arXiv 2310.00576) compares methods at equal wall-clock time, the curriculum
/// papers at equal tokens; both are first-class here, but never both at once, because a run that has
/// two ends has no single "fraction of the budget" for the schedules to read.
/// </remarks>
public sealed record BudgetConfig
{
    /// <summary>Tokens to train on; 0 when the budget is in seconds.</summary>
    public long Tokens { get; init; }

    /// <summary>Wall-clock seconds to train for; 0 when the budget is in tokens.</summary>
    public double Seconds { get; init; }

    /// <summary>True when the budget is counted in tokens (otherwise in seconds).</summary>
    public bool IsTokens => Tokens > 0;

    /// <summary>All problems with this section, each naming its setting under <paramref name="path"/>.</summary>
    public IReadOnlyList<RunInputException> Validate(string path = "budget")
    {
        var errors = new List<RunInputException>();
        var tokens = ConfigErrors.Join(path, "tokens");
        var seconds = ConfigErrors.Join(path, "seconds");
        if (Tokens < 0)
        {
            errors.Add(new RunInputException(tokens, $"{Tokens} is negative; set a token count above 0, or 0 to use {seconds}"));
        }

        if (!double.IsFinite(Seconds) || Seconds < 0)
        {
            errors.Add(new RunInputException(seconds, $"{Seconds.ToString(CultureInfo.InvariantCulture)} is not a time; set seconds above 0, or 0 to use {tokens}"));
        }

        if (errors.Count == 0)
        {
            if (Tokens == 0 && Seconds == 0)
            {
                errors.Add(new RunInputException(tokens, $"no budget: set {tokens} or {seconds} above 0"));
            }
            else if (Tokens > 0 && Seconds > 0)
            {
                errors.Add(new RunInputException(seconds, $"both {tokens} ({Tokens}) and {seconds} are set; set exactly one of them (the other 0)"));
            }
        }

        return errors;
    }
}
