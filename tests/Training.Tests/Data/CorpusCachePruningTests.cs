using GrowLength.Training.Data;

namespace GrowLength.Training.Tests.Data;

public sealed class CorpusCachePruningTests
{
    private static readonly DateTime Now = new(2025, 6, 1, 12, 0, 0, DateTimeKind.Utc);

    private static CorpusCacheEntry Entry(string name, CorpusCacheEntryKind kind, long bytes, TimeSpan age) =>
        new($"/cache/{name}", kind, bytes, Now - age, null);

    private static readonly CorpusCacheEntry Old = Entry("corpus-bytes-old", CorpusCacheEntryKind.Packed, 300, TimeSpan.FromDays(10));
    private static readonly CorpusCacheEntry Middle = Entry("corpus-bytes-middle", CorpusCacheEntryKind.Packed, 200, TimeSpan.FromDays(3));
    private static readonly CorpusCacheEntry Fresh = Entry("corpus-bytes-fresh", CorpusCacheEntryKind.Packed, 100, TimeSpan.FromHours(1));
    private static readonly CorpusCacheEntry DefaultText = Entry("default-corpus-abc", CorpusCacheEntryKind.DefaultText, 1000, TimeSpan.FromDays(30));
    private static readonly CorpusCacheEntry StaleLeftover = Entry(".corpus-bytes-x.tmp-1", CorpusCacheEntryKind.Leftover, 50, TimeSpan.FromHours(5));
    private static readonly CorpusCacheEntry BusyLeftover = Entry(".corpus-bytes-y.tmp-2", CorpusCacheEntryKind.Leftover, 50, TimeSpan.FromMinutes(1));

    private static readonly CorpusCacheEntry[] Cache = [Fresh, Middle, Old, DefaultText, StaleLeftover, BusyLeftover];

    private static List<string> Names(IEnumerable<CorpusCacheEntry> entries) => entries.Select(e => e.Name).ToList();

    [Fact]
    public void Older_than_takes_old_packed_corpora_and_stale_leftovers_but_never_the_default_text()
    {
        var chosen = CorpusCachePruning.Select(Cache, 1700, all: false, TimeSpan.FromDays(7), keepBytes: null, Now);
        Assert.Equal(["corpus-bytes-old", ".corpus-bytes-x.tmp-1"], Names(chosen));
    }

    [Fact]
    public void Keep_bytes_takes_the_least_recently_used_packed_corpora_until_the_cache_fits()
    {
        // 1,700 in all; the stale leftover goes (1,650), then old (1,350) and middle (1,150) to get under 1,200.
        var chosen = CorpusCachePruning.Select(Cache, 1700, all: false, olderThan: null, keepBytes: 1200, Now);
        Assert.Equal([".corpus-bytes-x.tmp-1", "corpus-bytes-old", "corpus-bytes-middle"], Names(chosen));
        // What cannot be reached by deleting packed corpora stops there: the default text stays.
        Assert.DoesNotContain(DefaultText, CorpusCachePruning.Select(Cache, 1700, all: false, olderThan: null, keepBytes: 0, Now));
    }

    [Fact]
    public void All_takes_the_default_text_too_but_not_a_leftover_an_ingest_may_be_writing()
    {
        var chosen = CorpusCachePruning.Select(Cache, 1700, all: true, olderThan: null, keepBytes: null, Now);
        Assert.Equal(Cache.Length - 1, chosen.Count);
        Assert.DoesNotContain(BusyLeftover, chosen);
    }
}
