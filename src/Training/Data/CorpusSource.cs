using System.Security.Cryptography;
using System.Text;

namespace GrowLength.Training.Data;

/// <summary>The files a <c>data.path</c> names, in a fixed order, with the fingerprint that keys the corpus cache.</summary>
/// <remarks>
/// In a folder every file is a candidate document whatever its extension (source code, prose, logs), narrowed by
/// <c>data.extensions</c> when that is set. Whether a candidate is text is decided when it is read (<see cref="Sniff"/>),
/// not here: resolving runs on every cache lookup, and must stay a directory listing however large the corpus.
/// </remarks>
internal sealed class CorpusSource
{
    /// <summary>Extensions that say a file is text: such a file is read as text without a sniff, so one that is not
    /// UTF-8 is an error naming it rather than a skipped file. For these the user has said what the file is; for any
    /// other, Latin-1 prose and a binary format look alike to a cheap check, and skipping is the safe reading.</summary>
    internal static readonly HashSet<string> TextExtensions =
        new(StringComparer.OrdinalIgnoreCase) { ".txt", ".md", ".markdown", ".text", ".rst" };

    /// <summary>How much of a file <see cref="Sniff"/> reads.</summary>
    internal const int SniffBytes = 8 * 1024;

    // Strict: a byte sequence that is not UTF-8 makes a file binary rather than text with replacement characters.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private CorpusSource(string path, IReadOnlyList<FileInfo> files, IReadOnlyList<string> extensions)
    {
        Path = path;
        Files = files;
        Extensions = extensions;
    }

    /// <summary>The full path of the source as given.</summary>
    public string Path { get; }

    /// <summary>Every file to read, sorted by full path (ordinal) so ingestion is deterministic.</summary>
    public IReadOnlyList<FileInfo> Files { get; }

    /// <summary>The extensions a folder was narrowed to, lower case and sorted; empty when every file is a candidate.</summary>
    public IReadOnlyList<string> Extensions { get; }

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
        return CorpusKind.Text;
    }

    /// <summary>Whether the file is text only if its content says so (<see cref="Sniff"/>): neither a .jsonl or .bin with
    /// its own reader nor one of the <see cref="TextExtensions"/>.</summary>
    public static bool MustSniff(string file) =>
        KindOf(file) == CorpusKind.Text && !TextExtensions.Contains(System.IO.Path.GetExtension(file));

    /// <summary>What is wrong with one entry of <c>data.extensions</c>, or null when it is a usable extension.</summary>
    public static string? ExtensionProblem(string? extension) => extension switch
    {
        null or "" => "is empty; an extension starts with '.', e.g. .py",
        _ when extension[0] != '.' => $"'{extension}' does not start with '.'; write .{extension}",
        // Path.GetExtension yields only the last one (".gz" of "a.tar.gz"), so ".tar.gz" could never match.
        _ when extension.Length == 1 || extension.LastIndexOf('.') != 0 => $"'{extension}' is not one extension such as .py",
        _ when extension.IndexOfAny(['/', '\\', '*', '?']) >= 0 => $"'{extension}' is an extension such as .py, not a path or a pattern",
        _ => null,
    };

    /// <summary>Resolves <paramref name="source"/> (a folder or one file) to its corpus files; in a folder only files
    /// ending in one of <paramref name="extensions"/> (none: every file) are read.</summary>
    public static CorpusSource Resolve(string source, IEnumerable<string>? extensions = null)
    {
        if (string.IsNullOrWhiteSpace(source))
        {
            throw new RunInputException("data.path", "is empty; pass a folder of text files, a .jsonl file or a .bin file");
        }
        var wanted = NormalizeExtensions(extensions);
        var full = System.IO.Path.GetFullPath(source);
        if (File.Exists(full))
        {
            // A file named on its own is read as named: data.extensions chooses among the files of a folder.
            if (MustSniff(full) && Sniff(full) is { } why)
            {
                throw new RunInputException(full, $"is not a corpus file: {why}; expected UTF-8 text, a .jsonl or a .bin file");
            }
            return new CorpusSource(full, [new FileInfo(full)], []);
        }
        if (!Directory.Exists(full))
        {
            throw new RunInputException(full, "does not exist (data.path)");
        }
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = false,
            // Hidden entries (on Unix, names starting with '.') belong to tools, not to the corpus: a checkout's .git
            // holds compressed objects and its own text (hooks, logs, config) that would otherwise train as documents.
            AttributesToSkip = FileAttributes.Hidden | FileAttributes.System,
        };
        var files = Directory
            .EnumerateFiles(full, "*", options)
            .Where(f => wanted.Count == 0 || wanted.Contains(System.IO.Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .Select(f => new FileInfo(f))
            .ToList();
        if (files.Count == 0)
        {
            throw new RunInputException(
                full, wanted.Count == 0 ? "holds no corpus files" : $"holds no corpus files ending in {string.Join(", ", wanted)} (data.extensions)");
        }
        return new CorpusSource(full, files, wanted);
    }

    /// <summary>Why the file is not text, or null when it is: a NUL byte or bytes that are not UTF-8 in its first
    /// <see cref="SniffBytes"/>.</summary>
    /// <remarks>Text never holds NUL, while nearly every binary format does early on (headers, lengths, padding); what
    /// passes that, such as compressed data, rarely forms valid UTF-8 for long. Only the first bytes are read, so the
    /// check costs the same for a 1 KB source file as for a 1 GB checkpoint; a text file that turns invalid further on is
    /// reported by name when it is read.</remarks>
    public static string? Sniff(string file)
    {
        Span<byte> buffer = stackalloc byte[SniffBytes];
        int read;
        bool whole;
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1))
        {
            read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            whole = read < buffer.Length || stream.Position == stream.Length;
        }
        var head = buffer[..read];
        if (head.Contains((byte)0))
        {
            return $"a NUL byte in its first {SniffBytes / 1024} KiB";
        }
        try
        {
            // Without a flush the decoder keeps a character cut at the end of the buffer for later instead of failing.
            StrictUtf8.GetDecoder().GetCharCount(head, flush: whole);
        }
        catch (DecoderFallbackException)
        {
            return $"bytes that are not UTF-8 in its first {SniffBytes / 1024} KiB";
        }
        return null;
    }

    /// <summary>A hash of the extensions and of every file's path, size and last-write time: changes when the corpus or
    /// its selection does, cheap to compute.</summary>
    public string Fingerprint()
    {
        var text = new StringBuilder();
        if (Extensions.Count > 0)
        {
            // Only a narrowed folder adds a line, so an unnarrowed corpus keeps the key it had before the setting existed.
            text.Append("extensions\t").AppendJoin(',', Extensions).Append('\n');
        }
        foreach (var file in Files)
        {
            text.Append(file.FullName).Append('\t').Append(file.Length).Append('\t')
                .Append(file.LastWriteTimeUtc.Ticks).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static List<string> NormalizeExtensions(IEnumerable<string>? extensions)
    {
        var list = new List<string>();
        foreach (var extension in extensions ?? [])
        {
            if (ExtensionProblem(extension) is { } problem)
            {
                throw new RunInputException("data.extensions", problem);
            }
            list.Add(extension.ToLowerInvariant());
        }
        return [.. list.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
    }
}

/// <summary>How a corpus file is read.</summary>
internal enum CorpusKind
{
    Text,
    JsonLines,
    TokenIds,
}
