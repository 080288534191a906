using GrowLength.Training;

namespace GrowLength.Client.Commands;

/// <summary>The comma-separated sequence lengths that `bench --lengths` and `eval --lengths` take.</summary>
internal static class LengthList
{
    /// <summary>Parses "128,256,512"; anything that is not a whole number of at least 2 throws naming --lengths.</summary>
    public static IReadOnlyList<int> Parse(string text)
    {
        var lengths = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var length) || length < 2)
                throw new RunInputException("--lengths", $"'{part}' is not a length (a whole number of at least 2).");
            lengths.Add(length);
        }
        if (lengths.Count == 0) throw new RunInputException("--lengths", "lists no length.");
        return lengths;
    }
}
