using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace GrowLength.Training.Data;

/// <summary>Reuses a packed corpus when the source files, tokenizer, validation fraction and seed are unchanged.</summary>
public static class CorpusCache
{
    /// <summary>
    /// Opens the cached packed corpus for these inputs, ingesting it first when absent. The key is a hash
    /// of every source file's path, size and last-write time and of the <paramref name="extensions"/> a folder is
    /// narrowed to, plus the tokenizer, fraction and seed, so an edited corpus or a changed setting ingests afresh
    /// and an unchanged one costs only a directory listing. An ingest is bounded by <paramref name="limits"/> (null:
    /// <see cref="CorpusLimits.Default"/>): each document, and the whole cache after it, before anything is written.
    /// </summary>
    public static PackedCorpus GetOrIngest(
        string source, string cacheRoot, ITokenizer tokenizer, double validationFraction, long seed, ILogger logger,
        IEnumerable<string>? extensions = null, CorpusLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(logger);
        var resolved = CorpusSource.Resolve(source, extensions);
        var fingerprint = resolved.Fingerprint();
        var folder = FolderFor(cacheRoot, fingerprint, tokenizer.Name, validationFraction, seed);
        if (File.Exists(Path.Combine(folder, CorpusManifest.FileName)))
        {
            logger.LogInformation("Reusing packed corpus {Folder} for {Source}", folder, resolved.Path);
            CorpusCacheContents.MarkUsed(folder);
            return PackedCorpus.Open(folder);
        }
        return CorpusIngestor.Ingest(resolved, fingerprint, folder, tokenizer, validationFraction, seed, logger, limits ?? CorpusLimits.Default, cacheRoot);
    }

    /// <summary>The corpus a <c>data</c> section names (the default corpus when its path is empty), split as a run seeded
    /// with <paramref name="runSeed"/> splits it: the one way training and evaluation find the same held-out documents.
    /// An ingest is bounded by <paramref name="limits"/> (null: <see cref="CorpusLimits.Default"/>).</summary>
    public static PackedCorpus Open(Run.DataConfig data, long runSeed, ITokenizer tokenizer, string cacheRoot, ILogger logger, CorpusLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        var source = string.IsNullOrEmpty(data.Path) ? DefaultCorpus.Materialize(cacheRoot, logger) : data.Path;
        return GetOrIngest(source, cacheRoot, tokenizer, data.ValidationFraction, data.SplitSeedFor(runSeed), logger, data.Extensions, limits);
    }

    internal static string FolderFor(string cacheRoot, string fingerprint, string tokenizer, double validationFraction, long seed)
    {
        var key = string.Join(
            '\n', CorpusManifest.CurrentFormat.ToString(CultureInfo.InvariantCulture), fingerprint, tokenizer,
            validationFraction.ToString("R", CultureInfo.InvariantCulture), seed.ToString(CultureInfo.InvariantCulture));
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..20];
        return Path.Combine(Path.GetFullPath(cacheRoot), $"{CorpusCacheContents.PackedPrefix}{tokenizer}-{hash}");
    }
}
