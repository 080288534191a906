using System.Diagnostics;
using System.Globalization;

namespace GrowLength.Grains.Workers;

/// <summary>Where in a step a <see cref="Failpoint"/> fires.</summary>
public enum FailpointPhase
{
    /// <summary>After forward/backward, before the gradient exchange.</summary>
    Backward,
    /// <summary>In the exchange's reduce-scatter, after the first chunk arrived.</summary>
    Reduce,
    /// <summary>In the exchange's all-gather, after the first chunk arrived.</summary>
    Gather,
    /// <summary>After the step was reported, before the order that commits it.</summary>
    Reported,
    /// <summary>With the order that commits the step in hand, before applying it.</summary>
    Commit,
}

/// <summary>A silo setting (<c>GrowLength:KillAt=STEP:PHASE</c>) that SIGKILLs the silo's own process when one of its
/// workers reaches that point of that step: the deterministic half of the chaos drills, so a test can kill a worker at
/// each phase of the exchange rather than wherever a timer happens to land. Unset in production.</summary>
public sealed record Failpoint(long Step, FailpointPhase Phase)
{
    /// <summary>Parses "STEP:PHASE" (e.g. "3:reduce"); null for an empty setting.</summary>
    /// <exception cref="RunRequestException">the text is not a step and a phase.</exception>
    public static Failpoint? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(':', StringSplitOptions.TrimEntries);
        if (parts.Length == 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var step)
            && Enum.TryParse<FailpointPhase>(parts[1], ignoreCase: true, out var phase) && !int.TryParse(parts[1], out _))
            return new Failpoint(step, phase);
        throw new RunRequestException("GrowLength:KillAt", $"'{text}' is not STEP:PHASE with a phase of {string.Join(", ", Enum.GetNames<FailpointPhase>().Select(n => n.ToLowerInvariant()))}.");
    }

    /// <summary>Kills this process (SIGKILL: no shutdown, no flushing) when <paramref name="step"/> and <paramref name="phase"/> match.</summary>
    public void Reached(long step, FailpointPhase phase)
    {
        if (step == Step && phase == Phase) Process.GetCurrentProcess().Kill();
    }
}
