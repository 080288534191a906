using GrowLength.Training.Run;

namespace GrowLength.Training.Schedules;

/// <summary>Discrete stages that move to the next length when the smoothed loss at the current one stops improving.</summary>
/// <remarks>
/// The rule, evaluated on the progress before each step:
/// <list type="bullet">
/// <item>Patience: when <see cref="TrainingProgress.StepsSinceImprovement"/> has reached the patience,
/// the next step runs at the next stage (one stage at a time; the counter restarts in
/// <see cref="TrainingProgress.EnterStage"/>).</item>
/// <item>Budget cap, only when shares are given: stage i ends no later than the cumulative share through i,
/// the same boundary <see cref="GrowLengthSchedule"/> uses, so this schedule is never behind GrowLength
/// with the same shares (and may skip stages to catch up).</item>
/// <item>It never moves back, and the last stage runs to the end of the budget.</item>
/// </list>
/// The GrowLength paper (arXiv 2310.00576) grows on a fixed plan of stages; this variant lets the
/// training loss decide when, with the fixed plan (shares) as an optional deadline.
/// </remarks>
public sealed class AdaptiveGrowthSchedule : ISequenceLengthSchedule
{
    private readonly StageBoundaries? caps;

    /// <summary>An adaptive schedule over <paramref name="lengths"/>, moving on after <paramref name="patience"/> steps without improvement, capped by <paramref name="shares"/> when given.</summary>
    public AdaptiveGrowthSchedule(IReadOnlyList<int> lengths, int patience, IReadOnlyList<double>? shares = null)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        if (lengths.Count == 0)
        {
            throw new ArgumentException("At least one stage.", nameof(lengths));
        }

        if (shares is not null && shares.Count != lengths.Count)
        {
            throw new ArgumentException("One share per stage.", nameof(shares));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(patience, 1);
        StageLengths = [.. lengths];
        Patience = patience;
        caps = shares is null ? null : new StageBoundaries(shares);
    }

    /// <inheritdoc/>
    public IReadOnlyList<int> StageLengths { get; }

    /// <summary>Steps without improvement after which the next stage starts.</summary>
    public int Patience { get; }

    /// <inheritdoc/>
    public StagePlan Plan(TrainingProgress progress, BudgetConfig budget)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var candidate = progress.StepsSinceImprovement >= Patience ? progress.Stage + 1 : progress.Stage;
        if (caps is not null)
        {
            candidate = Math.Max(candidate, caps.StageAt(BudgetFraction.Of(progress, budget)));
        }

        return StagePlan.Forward(progress, candidate, StageLengths);
    }
}
