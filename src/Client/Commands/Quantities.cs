using System.Globalization;
using GrowLength.Training;

namespace GrowLength.Client.Commands;

/// <summary>Parses the quantities options take as text: durations (90s, 2m, 1.5h) and counts (4000000, 4M, 500k).</summary>
internal static class Quantities
{
    /// <summary>Seconds in <paramref name="text"/>: a number with s, m or h (seconds when bare). Throws naming <paramref name="option"/>.</summary>
    public static double Seconds(string text, string option)
    {
        var t = text.Trim().ToLowerInvariant();
        var (number, scale) = t.EndsWith('h') ? (t[..^1], 3600.0) : t.EndsWith('m') ? (t[..^1], 60.0) : t.EndsWith('s') ? (t[..^1], 1.0) : (t, 1.0);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            throw new RunInputException(option, $"'{text}' is not a duration; write e.g. 90s, 2m or 1.5h.");
        if (value <= 0) throw new RunInputException(option, $"'{text}' must be a positive duration.");
        return value * scale;
    }

    /// <summary>The count in <paramref name="text"/>, with an optional k, M or G suffix. Throws naming <paramref name="option"/>.</summary>
    public static long Count(string text, string option)
    {
        var t = text.Trim().Replace("_", "").Replace(",", "");
        var (number, scale) = t.EndsWith('k') || t.EndsWith('K') ? (t[..^1], 1e3) : t.EndsWith('M') ? (t[..^1], 1e6) : t.EndsWith('G') ? (t[..^1], 1e9) : (t, 1.0);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value * scale > long.MaxValue / 2)
            throw new RunInputException(option, $"'{text}' is not a count; write e.g. 4000000, 4M or 500k.");
        if (value <= 0) throw new RunInputException(option, $"'{text}' must be positive.");
        return (long)Math.Round(value * scale);
    }
}
