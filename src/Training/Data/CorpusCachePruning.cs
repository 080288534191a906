namespace GrowLength.Training.Data;

/// <summary>Which folders of a corpus cache a prune deletes (<c>growlength cache prune</c>).</summary>
/// <remarks>Leftovers of interrupted ingests are garbage and always go, except ones written to within
/// <see cref="BusyLeftover"/>, which an ingest may still be writing. The default corpus's text is materialised once per
/// SDK and every default run packs from it, so only <c>all</c> deletes it.</remarks>
public static class CorpusCachePruning
{
    /// <summary>A leftover folder written to more recently than this may belong to an ingest in progress.</summary>
    public static readonly TimeSpan BusyLeftover = TimeSpan.FromHours(1);

    /// <summary>The entries to delete, least recently used first.</summary>
    /// <param name="entries">the cache's folders (<see cref="CorpusCacheContents.List"/>).</param>
    /// <param name="totalBytes">everything the cache folder holds (<see cref="CorpusCacheContents.BytesIn"/>), recognised or not.</param>
    /// <param name="all">every packed corpus and the default corpus's text.</param>
    /// <param name="olderThan">packed corpora last used longer ago than this.</param>
    /// <param name="keepBytes">then packed corpora, least recently used first, until the cache holds at most this much.</param>
    /// <param name="nowUtc">the time ages are measured from.</param>
    public static IReadOnlyList<CorpusCacheEntry> Select(
        IReadOnlyList<CorpusCacheEntry> entries, long totalBytes, bool all, TimeSpan? olderThan, long? keepBytes, DateTime nowUtc)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var chosen = new List<CorpusCacheEntry>();
        foreach (var entry in entries.OrderBy(e => e.LastUsedUtc).ThenBy(e => e.Folder, StringComparer.Ordinal))
        {
            var take = entry.Kind switch
            {
                CorpusCacheEntryKind.Leftover => nowUtc - entry.LastUsedUtc > BusyLeftover,
                CorpusCacheEntryKind.DefaultText => all,
                _ => all || (olderThan is { } age && nowUtc - entry.LastUsedUtc > age),
            };
            if (take) chosen.Add(entry);
        }
        if (keepBytes is { } keep)
        {
            var left = totalBytes - chosen.Sum(e => e.Bytes);
            foreach (var entry in entries.Where(e => e.Kind == CorpusCacheEntryKind.Packed && !chosen.Contains(e))
                         .OrderBy(e => e.LastUsedUtc).ThenBy(e => e.Folder, StringComparer.Ordinal))
            {
                if (left <= keep) break;
                chosen.Add(entry);
                left -= entry.Bytes;
            }
        }
        return chosen;
    }
}
