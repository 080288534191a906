using GrowLength.Training.Evaluation;

namespace GrowLength.Training.Engine;

/// <summary>Metrics of one optimizer step.</summary>
/// <param name="Step">index of the step just taken (0-based).</param>
/// <param name="Stage">schedule stage.</param>
/// <param name="Length">sequence length T of the step.</param>
/// <param name="Loss">mean training loss of the step, nats per token.</param>
/// <param name="Tokens">tokens trained so far, this step included.</param>
/// <param name="StepTokens">tokens in this step.</param>
/// <param name="StepSeconds">wall-clock seconds of this step.</param>
/// <param name="TokensPerSecond">StepTokens / StepSeconds.</param>
/// <param name="LearningRate">learning rate applied.</param>
/// <param name="GradNorm">global gradient L2 norm before clipping.</param>
/// <param name="ElapsedSeconds">training seconds so far (steps only, not checkpoints or evaluation).</param>
/// <param name="BudgetFraction">share of the budget spent, 0…1.</param>
/// <param name="DataWaitSeconds">seconds this step waited for its rows.</param>
/// <param name="ExchangeSeconds">seconds this step spent exchanging gradients (0 with one worker).</param>
public sealed record StepMetrics(
    long Step, int Stage, int Length, double Loss, long Tokens, long StepTokens, double StepSeconds, double TokensPerSecond,
    double LearningRate, double GradNorm, double ElapsedSeconds, double BudgetFraction, double DataWaitSeconds, double ExchangeSeconds);

/// <summary>Receives a run's events; implementations display, export or record them. Calls come from the training thread.</summary>
public interface ITrainingObserver
{
    /// <summary>A new stage starts with <paramref name="transition"/> (called before its first step).</summary>
    void OnStageStarted(StageTransition transition);

    /// <summary>A step completed.</summary>
    void OnStep(StepMetrics metrics);

    /// <summary>A checkpoint committed at <paramref name="step"/>, taking <paramref name="seconds"/>.</summary>
    void OnCheckpoint(long step, string folder, double seconds);

    /// <summary>Validation results at <paramref name="step"/>.</summary>
    void OnEvaluation(long step, long tokens, double elapsedSeconds, IReadOnlyList<EvalResult> results);
}

/// <summary>An observer that ignores everything.</summary>
public sealed class NullTrainingObserver : ITrainingObserver
{
    public static NullTrainingObserver Instance { get; } = new();
    public void OnStageStarted(StageTransition transition) { }
    public void OnStep(StepMetrics metrics) { }
    public void OnCheckpoint(long step, string folder, double seconds) { }
    public void OnEvaluation(long step, long tokens, double elapsedSeconds, IReadOnlyList<EvalResult> results) { }
}
