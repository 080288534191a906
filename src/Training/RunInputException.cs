namespace GrowLength.Training;

/// <summary>Bad user input (a config field, a file, a checkpoint, a CLI argument), named so the user knows what to change.</summary>
/// <remarks>
/// <see cref="Subject"/> is the setting path (for example <c>schedule.minLength</c>) or the file path at fault.
/// Programs turn this exception into a one-line message and a non-zero exit code; nothing else catches it.
/// </remarks>
public sealed class RunInputException(string subject, string problem, Exception? inner = null)
    : Exception($"{subject}: {problem}", inner)
{
    /// <summary>The setting path or file the problem is in.</summary>
    public string Subject { get; } = subject;

    /// <summary>What is wrong and, where it helps, what would fix it.</summary>
    public string Problem { get; } = problem;
}
