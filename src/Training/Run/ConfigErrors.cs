namespace GrowLength.Training.Run;

/// <summary>Turns the error lists that every config's <c>Validate(path)</c> returns into the one exception a program reports.</summary>
/// <remarks>
/// Every config returns all of its errors (so a tool can show them together) and callers that must stop
/// throw the first one: one style for every config in this folder.
/// </remarks>
public static class ConfigErrors
{
    /// <summary>Throws the first error, if any.</summary>
    public static void ThrowFirst(IEnumerable<RunInputException> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        var first = errors.FirstOrDefault();
        if (first is not null)
        {
            throw first;
        }
    }

    internal static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";
}
