namespace GrowLength.Training.Schedules;

/// <summary>Where a run stands after its last completed step: everything the schedules read, as plain data.</summary>
/// <remarks>
/// This is checkpointed and sent between grains, so it holds numbers only (no references to configs).
/// The schedules are pure functions of it, which is what lets resume and rescaling need nothing beyond it
/// (every step reads the stream from the running token count).
/// </remarks>
public sealed record TrainingProgress
{
    /// <summary>Completed optimizer steps.</summary>
    public long Step { get; init; }

    /// <summary>Tokens consumed by completed steps; also the stream offset of the next step.</summary>
    public long Tokens { get; init; }

    /// <summary>Training wall-clock seconds spent by completed steps.</summary>
    public double ElapsedSeconds { get; init; }

    /// <summary>Index of the current stage in the schedule's stage lengths.</summary>
    public int Stage { get; init; }

    /// <summary>Value of <see cref="Step"/> when the current stage began.</summary>
    public long StageStartStep { get; init; }

    /// <summary>Value of <see cref="Tokens"/> when the current stage began.</summary>
    public long StageStartTokens { get; init; }

    /// <summary>Value of <see cref="ElapsedSeconds"/> when the current stage began.</summary>
    public double StageStartSeconds { get; init; }

    /// <summary>Smoothed training loss at the current stage; NaN until the stage's first loss.</summary>
    public double LossEma { get; init; } = double.NaN;

    /// <summary>Lowest <see cref="LossEma"/> that counted as an improvement at the current stage; NaN until the first.</summary>
    public double BestLossEma { get; init; } = double.NaN;

    /// <summary>Steps at the current stage since <see cref="LossEma"/> last improved on <see cref="BestLossEma"/> by the margin.</summary>
    public long StepsSinceImprovement { get; init; }

    /// <summary>A run before its first step.</summary>
    public static TrainingProgress Initial { get; } = new();

    /// <summary>The progress after one more step of <paramref name="stepTokens"/> tokens taking <paramref name="stepSeconds"/> with training loss <paramref name="loss"/>.</summary>
    /// <remarks>
    /// The EMA is seeded by the stage's first loss rather than started at 0 and bias-corrected: the
    /// seeded value is a loss on its own (no step counter to carry along for the correction), and the
    /// adaptive schedule compares it with its best from the stage's first step on.
    /// An improvement is an EMA below the best by at least <paramref name="margin"/> relative to the best;
    /// anything else counts one more step towards the adaptive patience.
    /// </remarks>
    public TrainingProgress AfterStep(long stepTokens, double stepSeconds, double loss, double smoothing, double margin)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(stepTokens);
        if (!double.IsFinite(stepSeconds) || stepSeconds < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(stepSeconds), stepSeconds, "A step's duration is finite and not negative.");
        }

        if (!double.IsFinite(loss))
        {
            // A non-finite loss is divergence; folding it in would poison the EMA for the rest of the stage.
            throw new ArgumentOutOfRangeException(nameof(loss), loss, "The loss is not finite; the caller handles divergence before recording the step.");
        }

        if (!(smoothing is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(smoothing), smoothing, "Smoothing is in [0, 1).");
        }

        if (!(margin is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(margin), margin, "Margin is in [0, 1).");
        }

        var ema = double.IsNaN(LossEma) ? loss : (smoothing * LossEma) + ((1 - smoothing) * loss);
        var improved = double.IsNaN(BestLossEma)
            || (ema < BestLossEma && BestLossEma - ema >= margin * Math.Abs(BestLossEma));
        return this with
        {
            Step = Step + 1,
            Tokens = checked(Tokens + stepTokens),
            ElapsedSeconds = ElapsedSeconds + stepSeconds,
            LossEma = ema,
            BestLossEma = improved ? ema : BestLossEma,
            StepsSinceImprovement = improved ? 0 : StepsSinceImprovement + 1,
        };
    }

    /// <summary>The progress at the start of <paramref name="stage"/>, from here.</summary>
    /// <remarks>
    /// Loss at a new length is not comparable with loss at the old one (longer context changes it), so
    /// the EMA, best and patience counter start over: the adaptive rule judges each length on its own.
    /// </remarks>
    public TrainingProgress EnterStage(int stage)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stage, Stage, nameof(stage));
        return this with
        {
            Stage = stage,
            StageStartStep = Step,
            StageStartTokens = Tokens,
            StageStartSeconds = ElapsedSeconds,
            LossEma = double.NaN,
            BestLossEma = double.NaN,
            StepsSinceImprovement = 0,
        };
    }
}
