using System.Globalization;
using System.Text.RegularExpressions;

namespace GrowLength.Training.Checkpoints;

/// <summary>Names of checkpoint folders and parts: which folder names are complete, which are partial, which part names are safe.</summary>
internal static partial class CheckpointFolders
{
    public const string ManifestName = "manifest.json";
    public const string ManifestTempName = "manifest.json.tmp";

    // Twelve digits keep folders sorted by name as well as by step for any realistic run length.
    public static string CompleteName(long step) => $"step-{step.ToString("D12", CultureInfo.InvariantCulture)}";

    public static string PartialName(long step) => $"{CompleteName(step)}.partial-{Guid.NewGuid():N}";

    public static bool TryParseComplete(string folderName, out long step)
    {
        step = 0;
        var match = CompletePattern().Match(folderName);
        return match.Success && long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out step);
    }

    public static bool IsPartial(string folderName) => PartialPattern().IsMatch(folderName);

    /// <summary>Null when <paramref name="name"/> is a safe part file name, otherwise why not.</summary>
    public static string? PartNameProblem(string name)
    {
        if (string.IsNullOrEmpty(name))
            return "a part name must not be empty";
        if (!PartNamePattern().IsMatch(name))
            return $"part name '{name}' must use only letters, digits, '.', '_' and '-', and not start with '.'";
        if (name.StartsWith(ManifestName, StringComparison.OrdinalIgnoreCase))
            return $"part name '{name}' is reserved for the manifest";
        return null;
    }

    [GeneratedRegex(@"^step-(\d{12,19})$", RegexOptions.CultureInvariant)]
    private static partial Regex CompletePattern();

    [GeneratedRegex(@"^step-\d{12,19}\.partial-", RegexOptions.CultureInvariant)]
    private static partial Regex PartialPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_\-][A-Za-z0-9._\-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex PartNamePattern();
}
