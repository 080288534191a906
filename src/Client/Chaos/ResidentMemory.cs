using System.Globalization;

namespace GrowLength.Client.Chaos;

/// <summary>A process's resident set (VmRSS) from /proc/PID/status, read from outside the process.</summary>
internal static class ResidentMemory
{
    /// <summary>Bytes resident in process <paramref name="pid"/>, or null when it is gone or this is not Linux.</summary>
    public static long? Of(int pid)
    {
        try
        {
            return Parse(File.ReadAllText($"/proc/{pid}/status"));
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>The VmRSS line of a /proc/PID/status text ("VmRSS:     123456 kB") in bytes, or null without one.</summary>
    public static long? Parse(string status)
    {
        foreach (var line in status.Split('\n'))
        {
            if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
            var words = line["VmRSS:".Length..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 2 && words[1] == "kB" && long.TryParse(words[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
                return kib * 1024;
        }
        return null;
    }
}
