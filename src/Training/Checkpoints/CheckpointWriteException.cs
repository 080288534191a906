namespace GrowLength.Training.Checkpoints;

/// <summary>A checkpoint written in the background could not be written, or was written and could not be recorded. It
/// reaches the training thread at its next step boundary (or the run's end) and fails the run there, naming the folder,
/// as the same failure on the training thread would have.</summary>
public sealed class CheckpointWriteException(long step, string folder, string problem, Exception? inner = null)
    : Exception($"the checkpoint of step {step} ({folder}) {problem}", inner)
{
    /// <summary>Completed steps the checkpoint holds.</summary>
    public long Step { get; } = step;

    /// <summary>The folder the checkpoint has once complete (<c>step-&lt;12 digits&gt;</c>).</summary>
    public string Folder { get; } = folder;
}
