namespace GrowLength.Training.Run;

/// <summary>The names <c>schedule.kind</c> accepts.</summary>
public static class ScheduleKinds
{
    /// <summary>Discrete stages with budget shares (GrowLength paper, DeepSpeed fixed_discrete).</summary>
    public const string GrowLength = "growlength";

    /// <summary>One length, <c>schedule.maxLength</c>, for the whole run: the baseline.</summary>
    public const string Fixed = "fixed";

    /// <summary>Linear warm-up of the length (Composer SeqLengthWarmup, DeepSpeed fixed_linear).</summary>
    public const string Linear = "linear";

    /// <summary>Square-root warm-up of the length (DeepSpeed fixed_root, degree 2).</summary>
    public const string Root = "root";

    /// <summary>Discrete stages, moving on when the smoothed loss stops improving.</summary>
    public const string Adaptive = "adaptive";

    /// <summary>Every known kind, in the order error messages list them.</summary>
    public static IReadOnlyList<string> All { get; } = [GrowLength, Fixed, Linear, Root, Adaptive];

    /// <summary>The canonical name for <paramref name="kind"/> (case-insensitive), or null when unknown.</summary>
    public static string? Normalize(string? kind) =>
        kind is null ? null : All.FirstOrDefault(k => string.Equals(k, kind.Trim(), StringComparison.OrdinalIgnoreCase));
}
