using GrowLength.Training;

namespace GrowLength.Grains.Hosting;

/// <summary>Turns src/Training's bad-input exception into the one Orleans carries to clients.</summary>
internal static class InputErrors
{
    public static RunRequestException ToRequest(RunInputException e) => new(e.Subject, e.Problem);

    /// <summary>Runs <paramref name="work"/> off the grain scheduler (it may read or ingest files) and converts bad input.</summary>
    public static async Task<T> OffScheduler<T>(Func<T> work)
    {
        try
        {
            return await Task.Run(work);
        }
        catch (RunInputException e)
        {
            throw ToRequest(e);
        }
    }

    /// <summary>A run id names folders and grain keys, so it follows the spec name's rule.</summary>
    public static void CheckRunId(string runId)
    {
        if (string.IsNullOrWhiteSpace(runId) || runId.IndexOfAny(['/', '\\', ' ', ':']) >= 0 || runId is "." or "..")
            throw new RunRequestException("runId", $"'{runId}' must be a non-empty name without spaces, slashes or colons (it names folders).");
    }
}
