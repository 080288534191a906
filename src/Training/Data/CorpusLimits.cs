namespace GrowLength.Training.Data;

/// <summary>How much one document and the corpus cache may hold: the bounds that keep a corpus named by a run spec from
/// exhausting the memory or disk of the process that packs it.</summary>
/// <remarks>They are the host's settings, not the spec's: on a shared silo the spec's author must not be able to raise
/// them. The silo sets them from <see cref="MaxDocumentBytesSetting"/> and <see cref="CacheMaxBytesSetting"/>; errors name
/// those settings so the one who can change them knows which.</remarks>
/// <param name="MaxDocumentBytes">the most bytes one document may have: one .jsonl line (its terminator not counted) or one
/// text file. Must be 1 to <see cref="MaxDocumentBytesCeiling"/>.</param>
/// <param name="CacheMaxBytes">the most bytes the corpus cache folder may hold after a corpus is packed into it; 0 is no limit.</param>
public sealed record CorpusLimits(long MaxDocumentBytes = CorpusLimits.DefaultMaxDocumentBytes, long CacheMaxBytes = CorpusLimits.DefaultCacheMaxBytes)
{
    /// <summary>64 MiB: far above any real document, small enough that one line held in memory is harmless.</summary>
    public const long DefaultMaxDocumentBytes = 64L << 20;

    /// <summary>20 GiB.</summary>
    public const long DefaultCacheMaxBytes = 20L << 30;

    /// <summary>1 GiB: a line is decoded into one string, and .NET strings stop short of 2^30 characters.</summary>
    public const long MaxDocumentBytesCeiling = 1L << 30;

    /// <summary>The host setting that sets <see cref="MaxDocumentBytes"/>.</summary>
    public const string MaxDocumentBytesSetting = "GrowLength:MaxDocumentBytes";

    /// <summary>The host setting that sets <see cref="CacheMaxBytes"/>.</summary>
    public const string CacheMaxBytesSetting = "GrowLength:CorpusCacheMaxBytes";

    /// <summary>The defaults: 64 MiB documents, a 20 GiB cache.</summary>
    public static CorpusLimits Default { get; } = new();

    /// <summary>Throws <see cref="RunInputException"/> naming the setting that is out of range.</summary>
    public CorpusLimits Validated()
    {
        if (MaxDocumentBytes is < 1 or > MaxDocumentBytesCeiling)
            throw new RunInputException(MaxDocumentBytesSetting, $"must be 1 to {MaxDocumentBytesCeiling} bytes (is {MaxDocumentBytes}).");
        if (CacheMaxBytes < 0)
            throw new RunInputException(CacheMaxBytesSetting, $"must be 0 (no limit) or more bytes (is {CacheMaxBytes}).");
        return this;
    }
}
