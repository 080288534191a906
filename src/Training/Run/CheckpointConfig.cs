namespace GrowLength.Training.Run;

/// <summary>The <c>checkpoint</c> section: how often a run saves itself and how many saves it keeps.</summary>
public sealed record CheckpointConfig
{
    /// <summary>Save every this many optimizer steps (0: only at stage transitions and at the end).</summary>
    public int EverySteps { get; init; } = 200;

    /// <summary>Also save just before the first step of every new stage.</summary>
    public bool AtStageTransitions { get; init; } = true;

    /// <summary>Complete checkpoints to keep; older ones are deleted after each commit.</summary>
    public int KeepLast { get; init; } = 3;

    /// <summary>Checks the section; errors name the field.</summary>
    public IEnumerable<RunInputException> Validate(string path = "checkpoint")
    {
        if (EverySteps < 0) yield return new RunInputException($"{path}.everySteps", $"must be 0 or more (is {EverySteps}).");
        if (KeepLast < 1) yield return new RunInputException($"{path}.keepLast", $"must be at least 1 (is {KeepLast}).");
    }
}
