namespace GrowLength.Client.Commands;

/// <summary>The program's exit codes.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>Something unexpected failed (a bug or the environment); the message says what.</summary>
    public const int Failure = 1;

    /// <summary>Bad input: a config field, file, checkpoint or argument; the message names it.</summary>
    public const int BadInput = 2;

    /// <summary>The cluster could not be reached.</summary>
    public const int Unavailable = 3;

    /// <summary>Interrupted (Ctrl+C) after a graceful stop.</summary>
    public const int Interrupted = 130;
}
