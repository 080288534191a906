namespace GrowLength.Training.Compare;

/// <summary>What the loss around a length change is measured on.</summary>
public enum TransitionSource
{
    /// <summary>Validation loss at the curve length on the held-out windows (eval.atTransitions).</summary>
    Validation = 0,

    /// <summary>Training loss averaged over a few steps each side: runs without validation points at their length changes.</summary>
    TrainingLoss = 1,
}
