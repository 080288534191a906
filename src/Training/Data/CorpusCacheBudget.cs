namespace GrowLength.Training.Data;

/// <summary>The bytes one ingest may write into the corpus cache under <see cref="CorpusLimits.CacheMaxBytes"/>: refused
/// before anything is written when an upper bound of the packed size does not fit beside what the cache already holds,
/// and stopped while writing should the bound ever be wrong.</summary>
internal sealed class CorpusCacheBudget
{
    /// <summary>Room for the manifest and the closing index entries, whatever the corpus.</summary>
    private const long FixedBytes = 8 * 1024;

    private readonly string source;
    private readonly string cacheRoot;
    private readonly long limit;
    private readonly long used;
    private long written;

    private CorpusCacheBudget(string source, string cacheRoot, long limit, long used)
    {
        this.source = source;
        this.cacheRoot = cacheRoot;
        this.limit = limit;
        this.used = used;
    }

    /// <summary>The budget for packing <paramref name="source"/> into <paramref name="cacheRoot"/>, or null when the cache
    /// has no limit. Throws <see cref="RunInputException"/> naming the source when its packed size may not fit.</summary>
    public static CorpusCacheBudget? For(CorpusSource source, int tokenBytes, string cacheRoot, CorpusLimits limits)
    {
        if (limits.CacheMaxBytes <= 0) return null;
        var used = CorpusCacheContents.BytesIn(cacheRoot);
        var estimate = UpperBound(source, tokenBytes);
        if (used + estimate > limits.CacheMaxBytes)
        {
            throw new RunInputException(
                source.Path,
                $"would pack into up to {Bytes(estimate)} (an upper bound from its file sizes), and the corpus cache {cacheRoot} already holds "
                + $"{Bytes(used)}: together over {CorpusLimits.CacheMaxBytesSetting} = {Bytes(limits.CacheMaxBytes)}. "
                + "`growlength cache prune` frees space, or raise the setting on the silo that packs the corpus");
        }
        return new CorpusCacheBudget(source.Path, cacheRoot, limits.CacheMaxBytes, used);
    }

    /// <summary>At most how many bytes <paramref name="source"/> packs into, with tokens of <paramref name="tokenBytes"/> each.</summary>
    /// <remarks>Every tokenizer of <see cref="TokenizerCatalog"/> makes at most one token per UTF-8 byte (bytes trivially; each of
    /// GPT-2's byte-level BPE tokens stands for at least one byte), and JSON escapes only ever shorten text, so a text or
    /// .jsonl file of B bytes holds at most B tokens plus its end-of-text. A .jsonl document needs a line of at least
    /// <c>{"text":"x"}</c> and its newline, 13 bytes; a .bin document at least one id and a separator. Each document also
    /// takes one 8-byte index entry. Files a folder skips as binary count nothing. A tokenizer that breaks the bound is
    /// caught by <see cref="Take"/>.</remarks>
    public static long UpperBound(CorpusSource source, int tokenBytes)
    {
        long total = FixedBytes;
        foreach (var file in source.Files)
        {
            var bytes = file.Length;
            total += CorpusSource.KindOf(file.FullName) switch
            {
                CorpusKind.JsonLines => tokenBytes * bytes + sizeof(long) * ((bytes + 1) / 13 + 1),
                CorpusKind.TokenIds => tokenBytes * (bytes / 2 + 1) + sizeof(long) * (bytes / 4 + 1),
                _ when bytes == 0 || (CorpusSource.MustSniff(file.FullName) && CorpusSource.Sniff(file.FullName) is not null) => 0,
                _ => tokenBytes * (bytes + 1) + sizeof(long),
            };
        }
        return total;
    }

    /// <summary>Counts <paramref name="bytes"/> about to be written; throws naming the source once the cache would pass its limit.</summary>
    public void Take(long bytes)
    {
        written += bytes;
        if (used + written <= limit) return;
        throw new RunInputException(
            source,
            $"packed into more than the {Bytes(limit - used)} left in the corpus cache {cacheRoot} ({Bytes(used)} used) under "
            + $"{CorpusLimits.CacheMaxBytesSetting} = {Bytes(limit)}; the ingest stopped and nothing was kept. "
            + "`growlength cache prune` frees space, or raise the setting on the silo that packs the corpus");
    }

    /// <summary>Bytes for messages: exact, and in binary units once large.</summary>
    internal static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F1} GiB ({bytes:N0} bytes)",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB ({bytes:N0} bytes)",
        _ => $"{bytes:N0} bytes",
    };
}
