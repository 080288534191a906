using System.Text.Json;

namespace GrowLength.Training.Data;

/// <summary>Lists, measures and removes the folders of a corpus cache (what <see cref="CorpusCache"/> and
/// <see cref="DefaultCorpus"/> write under a cache root).</summary>
/// <remarks>Only folders these write are ever listed or removed, recognised by name: <c>corpus-*</c> (packed, or a
/// leftover without its manifest), <c>default-corpus-*</c> (the default corpus's text), and the temporary folders of an
/// interrupted ingest. Anything else under the root is left alone, though it counts in <see cref="BytesIn"/>.</remarks>
public static class CorpusCacheContents
{
    /// <summary>The name of every packed corpus folder starts with this.</summary>
    internal const string PackedPrefix = "corpus-";

    /// <summary>The name of the default corpus's text folder starts with this.</summary>
    internal const string DefaultTextPrefix = "default-corpus-";

    private static readonly EnumerationOptions Everything = new()
    {
        RecurseSubdirectories = true,
        IgnoreInaccessible = true,
        AttributesToSkip = 0, // temporary folders are hidden (a leading '.') and take space like any other
    };

    /// <summary>The sizes of every file under <paramref name="folder"/>, added up; 0 when it does not exist.</summary>
    public static long BytesIn(string folder) => Measure(folder).Bytes;

    /// <summary>Every recognised folder of the cache at <paramref name="cacheRoot"/>, by name; none when it does not exist.</summary>
    public static IReadOnlyList<CorpusCacheEntry> List(string cacheRoot)
    {
        var root = Path.GetFullPath(cacheRoot);
        if (!Directory.Exists(root)) return [];
        var entries = new List<CorpusCacheEntry>();
        foreach (var folder in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            if (KindOf(folder) is not { } kind) continue;
            var (bytes, newest) = Measure(folder);
            CorpusManifest? manifest = null;
            var lastUsed = newest;
            if (kind == CorpusCacheEntryKind.Packed)
            {
                var manifestPath = Path.Combine(folder, CorpusManifest.FileName);
                manifest = ReadManifest(manifestPath);
                lastUsed = File.GetLastWriteTimeUtc(manifestPath);
            }
            if (lastUsed == DateTime.MinValue) lastUsed = Directory.GetLastWriteTimeUtc(folder);
            entries.Add(new CorpusCacheEntry(folder, kind, bytes, lastUsed, manifest));
        }
        return entries;
    }

    /// <summary>Deletes the folder of <paramref name="entry"/> and returns the bytes it held (0 when it was already gone).</summary>
    /// <remarks>It is renamed to a hidden name first, atomically, so a run that looks the corpus up meanwhile finds it
    /// whole or not at all, never a folder whose manifest outlived its token files. Processes that have the token files
    /// open or mapped keep reading them: on Linux the space is freed when they close them.</remarks>
    public static long Remove(CorpusCacheEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var parent = Path.GetDirectoryName(entry.Folder)!;
        var aside = entry.Kind == CorpusCacheEntryKind.Leftover
            ? entry.Folder
            : Path.Combine(parent, $".{entry.Name}.deleting-{Guid.NewGuid():N}");
        try
        {
            if (aside != entry.Folder) Directory.Move(entry.Folder, aside);
            var bytes = BytesIn(aside);
            Directory.Delete(aside, recursive: true);
            return bytes;
        }
        catch (DirectoryNotFoundException)
        {
            return 0; // another prune (or the ingest that owned a leftover) removed it first
        }
    }

    /// <summary>Marks a packed corpus as used now (its manifest's write time), for <c>growlength cache prune --older-than</c>;
    /// a cache that cannot be written (read-only storage) keeps its old time.</summary>
    internal static void MarkUsed(string packedFolder)
    {
        try
        {
            File.SetLastWriteTimeUtc(Path.Combine(packedFolder, CorpusManifest.FileName), DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>What the cache folder at <paramref name="folder"/> is, or null when the cache code did not write it.</summary>
    internal static CorpusCacheEntryKind? KindOf(string folder)
    {
        var name = Path.GetFileName(folder);
        if (name.StartsWith('.'))
        {
            // ".corpus-….tmp-…" of an interrupted ingest (".old" of a replaced corpus) and ".NAME.deleting-…" of a prune.
            var inner = name[1..];
            return (inner.StartsWith(PackedPrefix, StringComparison.Ordinal) || inner.StartsWith(DefaultTextPrefix, StringComparison.Ordinal))
                && (inner.Contains(".tmp-", StringComparison.Ordinal) || inner.Contains(".deleting-", StringComparison.Ordinal))
                ? CorpusCacheEntryKind.Leftover
                : null;
        }
        if (name.StartsWith(DefaultTextPrefix, StringComparison.Ordinal))
            return name.Contains(".tmp-", StringComparison.Ordinal) ? CorpusCacheEntryKind.Leftover : CorpusCacheEntryKind.DefaultText;
        if (name.StartsWith(PackedPrefix, StringComparison.Ordinal))
            return File.Exists(Path.Combine(folder, CorpusManifest.FileName)) ? CorpusCacheEntryKind.Packed : CorpusCacheEntryKind.Leftover;
        return null;
    }

    private static CorpusManifest? ReadManifest(string path)
    {
        try
        {
            var manifest = JsonSerializer.Deserialize<CorpusManifest>(File.ReadAllText(path), CorpusManifest.Json);
            return manifest is { Tokenizer: not null, Source: not null, Train: not null, Validation: not null } ? manifest : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Bytes of every file under <paramref name="folder"/> and the newest write time among them.</summary>
    private static (long Bytes, DateTime Newest) Measure(string folder)
    {
        if (!Directory.Exists(folder)) return (0, DateTime.MinValue);
        long bytes = 0;
        var newest = DateTime.MinValue;
        try
        {
            foreach (var file in new DirectoryInfo(folder).EnumerateFiles("*", Everything))
            {
                try
                {
                    bytes += file.Length;
                    if (file.LastWriteTimeUtc > newest) newest = file.LastWriteTimeUtc;
                }
                catch (FileNotFoundException)
                {
                    // Removed while being measured (an ingest's temporary folder, a concurrent prune): it holds nothing now.
                }
            }
        }
        catch (DirectoryNotFoundException)
        {
        }
        return (bytes, newest);
    }
}
