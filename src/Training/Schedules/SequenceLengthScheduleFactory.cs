using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>Builds the length schedule a <see cref="ScheduleConfig"/> describes, after validating it.</summary>
public static class SequenceLengthScheduleFactory
{
    /// <summary>The schedule for <paramref name="config"/>; throws the config's first <see cref="RunInputException"/> (named under <paramref name="path"/>).</summary>
    public static ISequenceLengthSchedule Create(ScheduleConfig config, string path = "schedule")
    {
        ArgumentNullException.ThrowIfNull(config);
        ConfigErrors.ThrowFirst(config.Validate(path));
        return ScheduleKinds.Normalize(config.Kind) switch
        {
            ScheduleKinds.GrowLength => new GrowLengthSchedule(config.StageLengthsOrDefault(), config.Shares),
            ScheduleKinds.Fixed => new FixedLengthSchedule(config.MaxLength),
            ScheduleKinds.Linear => new LinearWarmupSchedule(config.MinLength, config.MaxLength, config.WarmupFraction, config.LengthMultiple),
            ScheduleKinds.Root => new RootWarmupSchedule(config.MinLength, config.MaxLength, config.WarmupFraction, config.LengthMultiple),
            ScheduleKinds.Adaptive => new AdaptiveGrowthSchedule(config.StageLengthsOrDefault(), config.AdaptivePatience, config.Shares),
            var kind => throw new InvalidOperationException($"Validated kind '{kind}' has no schedule."),
        };
    }
}
