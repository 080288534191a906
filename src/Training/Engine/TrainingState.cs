using GrowLength.Training.Schedules;

namespace GrowLength.Training.Engine;

/// <summary>One stage transition: the step at which a new length took effect.</summary>
public sealed record StageTransition(int Stage, int Length, long Step, long Tokens, double ElapsedSeconds);

/// <summary>The run's position: progress counters plus every stage transition so far (checkpointed with the weights).</summary>
public sealed record TrainingState(TrainingProgress Progress, IReadOnlyList<StageTransition> Transitions)
{
    /// <summary>A run that has not taken a step.</summary>
    public static TrainingState Initial { get; } = new(TrainingProgress.Initial, []);

    /// <summary>The length the run last trained at (0 before the first step).</summary>
    public int CurrentLength => Transitions.Count == 0 ? 0 : Transitions[^1].Length;

    /// <summary>The longest length the run has trained at: the "trained length" RoPE scaling is relative to.</summary>
    public int LongestLength => Transitions.Count == 0 ? 0 : Transitions.Max(t => t.Length);
}
