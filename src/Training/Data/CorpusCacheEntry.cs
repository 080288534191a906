namespace GrowLength.Training.Data;

/// <summary>One folder of a corpus cache: what it is, its size on disk and when it was last used.</summary>
/// <param name="Folder">the folder's full path.</param>
/// <param name="Kind">what the folder holds.</param>
/// <param name="Bytes">the sizes of its files, added up.</param>
/// <param name="LastUsedUtc">a packed corpus: when it was packed or last reused; any other folder: its last change.</param>
/// <param name="Manifest">a packed corpus's manifest; null for other folders, or when it cannot be read.</param>
public sealed record CorpusCacheEntry(string Folder, CorpusCacheEntryKind Kind, long Bytes, DateTime LastUsedUtc, CorpusManifest? Manifest)
{
    /// <summary>The folder's name inside the cache.</summary>
    public string Name => Path.GetFileName(Folder);
}

/// <summary>What a corpus cache folder holds.</summary>
public enum CorpusCacheEntryKind
{
    /// <summary>A packed corpus (<c>corpus-TOKENIZER-HASH</c>).</summary>
    Packed,

    /// <summary>The default corpus's text, materialised from the SDK's documentation (<c>default-corpus-HASH</c>).</summary>
    DefaultText,

    /// <summary>What an interrupted ingest or materialisation left: a temporary folder, or a packed folder without its manifest.</summary>
    Leftover,
}
