using System.Globalization;

namespace GrowLength.Training.Engine;

/// <summary>Memory this process can still use: the least of what the kernel reports available (MemAvailable, page cache
/// that can be reclaimed included) and the headroom under this process's cgroup limit (a container's), with .NET's own
/// figure where neither can be read.</summary>
/// <param name="Bytes">bytes available.</param>
/// <param name="Source">where the figure came from, for messages.</param>
public sealed record HostMemory(long Bytes, string Source)
{
    /// <summary>Reads the figure now.</summary>
    public static HostMemory Available()
    {
        HostMemory? best = null;
        if (ReadText("/proc/meminfo") is { } meminfo && MemAvailable(meminfo) is { } free)
            best = new HostMemory(free, "MemAvailable in /proc/meminfo");
        if (CgroupHeadroom() is { } cgroup && (best is null || cgroup.Bytes < best.Bytes))
            best = cgroup;
        return best ?? new HostMemory(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, ".NET's total available memory");
    }

    /// <summary>The MemAvailable line of a /proc/meminfo text, in bytes, or null without one.</summary>
    public static long? MemAvailable(string meminfo)
    {
        ArgumentNullException.ThrowIfNull(meminfo);
        foreach (var line in meminfo.Split('\n'))
        {
            if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
            var words = line["MemAvailable:".Length..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 2 && words[1] == "kB" && long.TryParse(words[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
                return kib * 1024;
        }
        return null;
    }

    /// <summary>A cgroup v2 limit's headroom: <paramref name="max"/> (memory.max; "max" is no limit, null) less the usage
    /// <paramref name="current"/> (memory.current) that cannot be reclaimed: its inactive file cache (memory.stat) is.</summary>
    public static long? CgroupHeadroom(string max, string current, string? stat)
    {
        ArgumentNullException.ThrowIfNull(max);
        ArgumentNullException.ThrowIfNull(current);
        if (!long.TryParse(max.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var limit)) return null;
        if (!long.TryParse(current.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var used)) return null;
        long inactiveFile = 0;
        foreach (var line in (stat ?? "").Split('\n'))
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words is ["inactive_file", var value] && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                inactiveFile = parsed;
        }
        return Math.Max(0, limit - Math.Max(0, used - inactiveFile));
    }

    /// <summary>This process's cgroup v2 headroom (its own cgroup's files, else the root's, as a container sees it), or null
    /// when there is no limit or no cgroup v2.</summary>
    private static HostMemory? CgroupHeadroom()
    {
        var folders = new List<string>();
        // "0::/path" is this process's cgroup v2; inside a container with its own cgroup namespace the path is "/".
        if (ReadText("/proc/self/cgroup") is { } self && self.Split('\n').FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal)) is { } line)
            folders.Add("/sys/fs/cgroup" + line[3..].Trim());
        folders.Add("/sys/fs/cgroup");
        foreach (var folder in folders.Distinct(StringComparer.Ordinal))
        {
            if (ReadText(Path.Combine(folder, "memory.max")) is not { } max || ReadText(Path.Combine(folder, "memory.current")) is not { } current) continue;
            if (CgroupHeadroom(max, current, ReadText(Path.Combine(folder, "memory.stat"))) is { } headroom)
                return new HostMemory(headroom, $"the headroom under its cgroup's memory.max in {folder}");
            return null; // this cgroup has no limit
        }
        return null;
    }

    private static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
