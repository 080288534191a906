using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace GrowLength.Training.Data;

/// <summary>Tokenizes a corpus (folder of text files, .jsonl, or nanoGPT .bin) into a packed folder of train/validation token files.</summary>
/// <remarks>
/// Ingestion streams: it reads one file (or one .jsonl line, or one fixed buffer of a .bin) at a time,
/// tokenizes text in bounded pieces (<see cref="TextChunker"/>), and writes through buffered streams
/// straight into the split each document belongs to. Files of a folder that are not text (<see cref="CorpusSource.Sniff"/>)
/// are skipped and counted. A document's split is a pure function of
/// (seed, ordinal), known before its first token, so nothing is held back. Memory is bounded by the
/// buffers and <see cref="CorpusLimits.MaxDocumentBytes"/> (the longest .jsonl line it will hold), not by the corpus size;
/// a document over that limit fails the ingest, naming the file (and line), before any of it is tokenized.
/// Output is written to a temporary sibling folder and renamed when complete, so a crash mid-ingest
/// never leaves a folder that looks like a finished corpus.
/// </remarks>
public static class CorpusIngestor
{
    private const int BinBufferTokens = 1 << 18;

    // Strict decoding: a corpus with invalid UTF-8 is reported, never silently altered.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Whether the document with this ordinal goes to validation: a seeded hash of the ordinal, below the fraction.</summary>
    public static bool IsValidationDocument(long seed, long ordinal, double validationFraction) =>
        SplitMix64.ToUnit(SplitMix64.Hash(seed, (ulong)ordinal, 0x5EED_5B11)) < validationFraction;

    /// <summary>Packs <paramref name="source"/> (a folder or one file) into <paramref name="outputFolder"/>; in a folder only
    /// files ending in one of <paramref name="extensions"/> (null or none: every file) are read. Each document is bounded by
    /// <paramref name="limits"/> (null: <see cref="CorpusLimits.Default"/>); its cache bound is <see cref="CorpusCache"/>'s.</summary>
    public static PackedCorpus Ingest(
        string source, string outputFolder, ITokenizer tokenizer, double validationFraction, long seed, ILogger logger,
        IEnumerable<string>? extensions = null, CorpusLimits? limits = null)
    {
        var resolved = CorpusSource.Resolve(source, extensions);
        return Ingest(resolved, resolved.Fingerprint(), outputFolder, tokenizer, validationFraction, seed, logger, limits ?? CorpusLimits.Default, cacheRoot: null);
    }

    /// <param name="cacheRoot">the corpus cache <paramref name="outputFolder"/> is in, bounded by <see cref="CorpusLimits.CacheMaxBytes"/>; null: no cache bound.</param>
    internal static PackedCorpus Ingest(
        CorpusSource source, string fingerprint, string outputFolder, ITokenizer tokenizer,
        double validationFraction, long seed, ILogger logger, CorpusLimits limits, string? cacheRoot)
    {
        ArgumentNullException.ThrowIfNull(limits);
        limits.Validated();
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(logger);
        if (!(validationFraction >= 0 && validationFraction < 1))
        {
            throw new RunInputException("data.validationFraction", $"is {validationFraction}; it must be in [0, 1)");
        }
        if (tokenizer.Name != Gpt2Tokenizer.TokenizerName)
        {
            var bin = source.Files.FirstOrDefault(f => CorpusSource.KindOf(f.FullName) == CorpusKind.TokenIds);
            if (bin is not null)
            {
                throw new RunInputException(
                    "data.tokenizer",
                    $"is '{tokenizer.Name}', but {bin.FullName} holds GPT-2 token ids (nanoGPT .bin); use data.tokenizer=gpt2");
            }
        }

        // Both bounds are checked before the first byte is written: a refused corpus leaves nothing behind.
        CheckDocumentSizes(source, limits.MaxDocumentBytes);
        var tokenBytes = CorpusManifest.TokenBytesFor(tokenizer.VocabSize);
        var budget = cacheRoot is null ? null : CorpusCacheBudget.For(source, tokenBytes, Path.GetFullPath(cacheRoot), limits);

        var output = Path.GetFullPath(outputFolder);
        var parent = Path.GetDirectoryName(output) ?? throw new RunInputException(output, "has no parent folder");
        Directory.CreateDirectory(parent);
        var temporary = Path.Combine(parent, $".{Path.GetFileName(output)}.tmp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temporary);
        try
        {
            var (manifest, binaryFiles) = WritePacked(source, fingerprint, temporary, tokenizer, validationFraction, seed, limits.MaxDocumentBytes, budget);
            Publish(temporary, output);
            logger.LogInformation(
                "Ingested {Source}: {TrainTokens} train tokens in {TrainDocuments} documents, {ValidationTokens} validation tokens in {ValidationDocuments} documents ({Tokenizer}), {BinaryFiles} binary files skipped, into {Folder}",
                source.Path, manifest.Train.Tokens, manifest.Train.Documents, manifest.Validation.Tokens,
                manifest.Validation.Documents, tokenizer.Name, binaryFiles, output);
        }
        finally
        {
            if (Directory.Exists(temporary))
            {
                Directory.Delete(temporary, recursive: true);
            }
        }
        return PackedCorpus.Open(output);
    }

    /// <returns>The manifest and how many files were skipped as binary.</returns>
    private static (CorpusManifest Manifest, int BinaryFiles) WritePacked(
        CorpusSource source, string fingerprint, string folder, ITokenizer tokenizer, double validationFraction, long seed,
        long maxDocumentBytes, CorpusCacheBudget? budget)
    {
        var tokenType = CorpusManifest.TokenTypeFor(tokenizer.VocabSize);
        var tokenBytes = CorpusManifest.TokenBytesFor(tokenizer.VocabSize);
        using var train = new SplitWriter(folder, CorpusSplit.Train, tokenBytes, tokenizer.EndOfText, budget);
        using var validation = new SplitWriter(folder, CorpusSplit.Validation, tokenBytes, tokenizer.EndOfText, budget);
        long ordinal = 0;
        var binaryFiles = 0;

        SplitWriter Begin()
        {
            var writer = IsValidationDocument(seed, ordinal, validationFraction) ? validation : train;
            ordinal++;
            writer.BeginDocument();
            return writer;
        }

        foreach (var file in source.Files)
        {
            switch (CorpusSource.KindOf(file.FullName))
            {
                case CorpusKind.Text when CorpusSource.MustSniff(file.FullName) && CorpusSource.Sniff(file.FullName) is not null:
                    binaryFiles++;
                    break;
                case CorpusKind.Text:
                    ReadTextFile(file.FullName, tokenizer, Begin, maxDocumentBytes);
                    break;
                case CorpusKind.JsonLines:
                    ReadJsonLines(file.FullName, tokenizer, Begin, maxDocumentBytes);
                    break;
                case CorpusKind.TokenIds:
                    ReadTokenIds(file.FullName, tokenizer, Begin);
                    break;
            }
        }

        if (ordinal == 0 && binaryFiles > 0)
        {
            var rest = binaryFiles == source.Files.Count ? "" : "; every other file is empty";
            throw new RunInputException(
                source.Path,
                $"holds no text: {binaryFiles} binary {(binaryFiles == 1 ? "file was" : "files were")} skipped (a NUL byte or bytes that " +
                $"are not UTF-8 in the first {CorpusSource.SniffBytes / 1024} KiB){rest}");
        }
        if (ordinal == 0)
        {
            throw new RunInputException(source.Path, "holds no documents with any tokens (every file or line is empty)");
        }
        if (ordinal >= 2 && validation.Documents == 0)
        {
            train.MoveLastDocumentTo(validation);
        }
        else if (train.Documents == 0)
        {
            // Training needs tokens more than evaluation does: a lone document always trains.
            validation.MoveLastDocumentTo(train);
        }
        train.Complete();
        validation.Complete();

        var manifest = new CorpusManifest(
            CorpusManifest.CurrentFormat, tokenizer.Name, tokenizer.VocabSize, tokenizer.EndOfText, tokenType,
            new CorpusSplitInfo(train.Tokens, train.Documents), new CorpusSplitInfo(validation.Tokens, validation.Documents),
            source.Path, fingerprint, seed, validationFraction);
        // The manifest is written last: a folder without it is never a corpus.
        var manifestPath = Path.Combine(folder, CorpusManifest.FileName);
        File.WriteAllText(manifestPath, JsonSerializer.Serialize(manifest, CorpusManifest.Json));
        return (manifest, binaryFiles);
    }

    /// <summary>Moves the finished temporary folder into place; a concurrent ingest of the same output may win the race.</summary>
    private static void Publish(string temporary, string output)
    {
        if (Directory.Exists(output))
        {
            // Replace an older corpus: move it aside first so the rename below stays atomic.
            var aside = $"{temporary}.old";
            Directory.Move(output, aside);
            Directory.Move(temporary, output);
            Directory.Delete(aside, recursive: true);
            return;
        }
        Directory.Move(temporary, output);
    }

    /// <summary>Refuses a corpus with a text file over <paramref name="maxDocumentBytes"/>, before anything is read or
    /// written. A file a folder would skip as binary is no document, so it is not refused for its size.</summary>
    private static void CheckDocumentSizes(CorpusSource source, long maxDocumentBytes)
    {
        foreach (var file in source.Files)
        {
            if (CorpusSource.KindOf(file.FullName) != CorpusKind.Text || file.Length <= maxDocumentBytes) continue;
            if (CorpusSource.MustSniff(file.FullName) && CorpusSource.Sniff(file.FullName) is not null) continue;
            throw DocumentTooLong(file.FullName, $"{file.Length:N0} bytes", maxDocumentBytes);
        }
    }

    private static RunInputException DocumentTooLong(string path, string size, long maxDocumentBytes) => new(
        path,
        $"is {size}, over the most one document may have: {maxDocumentBytes:N0} bytes ({CorpusLimits.MaxDocumentBytesSetting}); "
        + "split it into smaller files, or raise the setting on the silo that packs the corpus");

    private static void ReadTextFile(string path, ITokenizer tokenizer, Func<SplitWriter> begin, long maxDocumentBytes)
    {
        SplitWriter? writer = null;
        var chunker = new TextChunker(tokenizer, tokens =>
        {
            if (tokens.Length > 0)
            {
                (writer ??= begin()).Write(tokens);
            }
        });
        try
        {
            // Bytes are counted as read, not taken from the file's size or position: a file may grow after the check before
            // the ingest, and a named pipe has neither.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            var decoder = StrictUtf8.GetDecoder();
            var bytes = new byte[1 << 16];
            var chars = new char[StrictUtf8.GetMaxCharCount(bytes.Length)];
            long total = 0;
            var first = true;
            int read;
            do
            {
                read = stream.Read(bytes, 0, bytes.Length);
                total += read;
                if (total > maxDocumentBytes)
                {
                    throw DocumentTooLong(path, $"more than {maxDocumentBytes:N0} bytes", maxDocumentBytes);
                }
                // The last call flushes, so a sequence cut off at the end of the file is reported like any invalid one.
                var span = chars.AsSpan(0, decoder.GetChars(bytes, 0, read, chars, 0, flush: read == 0));
                if (first && !span.IsEmpty)
                {
                    if (span[0] == '\uFEFF')
                    {
                        span = span.Slice(1); // a UTF-8 byte order mark is not text
                    }
                    first = false;
                }
                chunker.Append(span);
            }
            while (read > 0);
        }
        catch (DecoderFallbackException e)
        {
            throw new RunInputException(path, "is not valid UTF-8 text", e);
        }
        chunker.Finish();
        // An empty file is no document: it gets no ordinal and no end-of-text.
        writer?.EndDocument();
    }

    private static void ReadJsonLines(string path, ITokenizer tokenizer, Func<SplitWriter> begin, long maxDocumentBytes)
    {
        using var reader = new JsonLinesReader(path, maxDocumentBytes);
        while (reader.TryReadLine(out var line))
        {
            if (IsBlank(line.Span))
            {
                continue;
            }
            // Checked on the bytes, so a bad line is named by number; the JSON parser below reads the bytes in place.
            if (!System.Text.Unicode.Utf8.IsValid(line.Span))
            {
                throw new RunInputException($"{path}:{reader.LineNumber}", "is not valid UTF-8 text");
            }
            var text = TextField(line, path, reader.LineNumber);
            SplitWriter? writer = null;
            var chunker = new TextChunker(tokenizer, tokens =>
            {
                if (tokens.Length > 0)
                {
                    (writer ??= begin()).Write(tokens);
                }
            });
            chunker.Append(text);
            chunker.Finish();
            writer?.EndDocument();
        }
    }

    private static bool IsBlank(ReadOnlySpan<byte> line) => line.IndexOfAnyExcept(" \t\r\n\f\v"u8) < 0;

    private static string TextField(ReadOnlyMemory<byte> line, string path, int lineNumber)
    {
        try
        {
            // Parses the line's bytes where they are (no copy), so a line costs its bytes and its text, once each.
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new RunInputException($"{path}:{lineNumber}", "is not a JSON object with a \"text\" field");
            }
            if (!json.RootElement.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
            {
                throw new RunInputException($"{path}:{lineNumber}", "has no \"text\" string field");
            }
            return text.GetString()!;
        }
        catch (JsonException e)
        {
            throw new RunInputException($"{path}:{lineNumber}", $"is not valid JSON: {e.Message}", e);
        }
    }

    private static void ReadTokenIds(string path, ITokenizer tokenizer, Func<SplitWriter> begin)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (stream.Length % 2 != 0)
        {
            throw new RunInputException(path, $"is {stream.Length} bytes, not a whole number of uint16 token ids");
        }
        var bytes = new byte[BinBufferTokens * 2];
        var tokens = new int[BinBufferTokens];
        SplitWriter? writer = null;
        long position = 0;
        int read;
        while ((read = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false)) > 0)
        {
            var count = read / 2;
            for (var i = 0; i < count; i++)
            {
                tokens[i] = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i));
                if (tokens[i] >= tokenizer.VocabSize)
                {
                    throw new RunInputException(
                        path, $"token {position + i} is {tokens[i]}, outside the {tokenizer.Name} vocabulary of {tokenizer.VocabSize}");
                }
            }
            // Documents are the runs between end-of-text ids; empty runs (repeated separators) are no document.
            var start = 0;
            for (var i = 0; i <= count; i++)
            {
                if (i < count && tokens[i] != tokenizer.EndOfText)
                {
                    continue;
                }
                if (i > start)
                {
                    (writer ??= begin()).Write(tokens.AsSpan(start, i - start));
                }
                if (i < count && writer is not null)
                {
                    writer.EndDocument();
                    writer = null;
                }
                start = i + 1;
            }
            position += count;
        }
        writer?.EndDocument();
    }
}
