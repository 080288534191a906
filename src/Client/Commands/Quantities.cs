using System.Globalization;
using GrowLength.Training;

namespace GrowLength.Client.Commands;

/// <summary>Parses the quantities options take as text: durations (90s, 2m, 1.5h, 7d), counts (4000000, 4M, 500k) and
/// byte sizes (500M, 2GiB).</summary>
internal static class Quantities
{
    /// <summary>Seconds in <paramref name="text"/>: a number with s, m, h or d (seconds when bare). Throws naming <paramref name="option"/>.</summary>
    public static double Seconds(string text, string option)
    {
        var t = text.Trim().ToLowerInvariant();
        var (number, scale) = t.EndsWith('d') ? (t[..^1], 86400.0) : t.EndsWith('h') ? (t[..^1], 3600.0) : t.EndsWith('m') ? (t[..^1], 60.0) : t.EndsWith('s') ? (t[..^1], 1.0) : (t, 1.0);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            throw new RunInputException(option, $"'{text}' is not a duration; write e.g. 90s, 2m, 1.5h or 7d.");
        if (value <= 0) throw new RunInputException(option, $"'{text}' must be a positive duration.");
        return value * scale;
    }

    /// <summary>Bytes in <paramref name="text"/>: a whole number, or a number with k, M, G or T (powers of 1000, optionally
    /// followed by B) or KiB, MiB, GiB or TiB (powers of 1024). 0 is allowed. Throws naming <paramref name="option"/>.</summary>
    public static long Bytes(string text, string option)
    {
        var t = text.Trim().Replace("_", "").Replace(",", "");
        (string Suffix, double Scale)[] units =
        [
            ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
            ("kB", 1e3), ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12),
            ("k", 1e3), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("B", 1),
        ];
        var (number, scale) = (t, 1.0);
        foreach (var (suffix, unit) in units)
        {
            if (!t.EndsWith(suffix, StringComparison.Ordinal)) continue;
            (number, scale) = (t[..^suffix.Length], unit);
            break;
        }
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value < 0 || value * scale > long.MaxValue / 2)
            throw new RunInputException(option, $"'{text}' is not a size in bytes; write e.g. 500000000, 500M or 2GiB.");
        return (long)Math.Round(value * scale);
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
