using System.Security.Cryptography;
using System.Text;

namespace GrowLength.Training.Data;

/// <summary>The files a <c>data.path</c> names, in a fixed order, with the fingerprint that keys the corpus cache.</summary>
internal sealed class CorpusSource
{
    /// <summary>Plain-text extensions: each such file is one document.</summary>
    internal static readonly HashSet<string> TextExtensions =
        new(StringComparer.OrdinalIgnoreCase) { ".txt", ".md", ".markdown", ".text", ".rst" };

    private CorpusSource(string path, IReadOnlyList<FileInfo> files)
    {
        Path = path;
        Files = files;
    }

    /// <summary>The full path of the source as given.</summary>
    public string Path { get; }

    /// <summary>Every file to read, sorted by full path (ordinal) so ingestion is deterministic.</summary>
    public IReadOnlyList<FileInfo> Files { get; }

    public static CorpusKind KindOf(string file)
    {
        var extension = System.IO.Path.GetExtension(file);
        if (extension.Equals(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            return CorpusKind.JsonLines;
        }
        if (extension.Equals(".bin", StringComparison.OrdinalIgnoreCase))
        {
            return CorpusKind.TokenIds;
        }
        return TextExtensions.Contains(extension) ? CorpusKind.Text : CorpusKind.Ignored;
    }

    /// <summary>Resolves <paramref name="source"/> (a folder or one file) to its corpus files.</summary>
    public static CorpusSource Resolve(string source)
    {
        if (string.IsNullOrWhiteSpace(source))
        {
            throw new RunInputException("data.path", "is empty; pass a folder of text files, a .jsonl file or a .bin file");
        }
        var full = System.IO.Path.GetFullPath(source);
        if (File.Exists(full))
        {
            if (KindOf(full) == CorpusKind.Ignored)
            {
                throw new RunInputException(full, "is not a corpus file: expected .txt/.md/.markdown/.text/.rst, .jsonl or .bin");
            }
            return new CorpusSource(full, [new FileInfo(full)]);
        }
        if (!Directory.Exists(full))
        {
            throw new RunInputException(full, "does not exist (data.path)");
        }
        var files = Directory
            .EnumerateFiles(full, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false })
            .Where(f => KindOf(f) != CorpusKind.Ignored)
            .Order(StringComparer.Ordinal)
            .Select(f => new FileInfo(f))
            .ToList();
        if (files.Count == 0)
        {
            throw new RunInputException(full, "holds no corpus files (.txt, .md, .markdown, .text, .rst, .jsonl, .bin)");
        }
        return new CorpusSource(full, files);
    }

    /// <summary>A hash of every file's path, size and last-write time: changes when the corpus does, cheap to compute.</summary>
    public string Fingerprint()
    {
        var text = new StringBuilder();
        foreach (var file in Files)
        {
            text.Append(file.FullName).Append('\t').Append(file.Length).Append('\t')
                .Append(file.LastWriteTimeUtc.Ticks).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}

/// <summary>How a corpus file is read.</summary>
internal enum CorpusKind
{
    Ignored,
    Text,
    JsonLines,
    TokenIds,
}
