using System.IO.MemoryMappedFiles;
using System.Text.Json;

namespace GrowLength.Training.Data;

/// <summary>A packed corpus folder opened read-only through memory mapping: token counts and fast bulk reads of either split.</summary>
/// <remarks>
/// Reads copy straight from the mapped pages into the caller's span (widening uint16 ids with vector
/// instructions), so the operating system's page cache, not the process heap, holds the corpus.
/// Thread-safe for concurrent reads.
/// </remarks>
public sealed unsafe class PackedCorpus : IDisposable
{
    private readonly MappedTokens _train;
    private readonly MappedTokens _validation;

    private PackedCorpus(string folder, CorpusManifest manifest, MappedTokens train, MappedTokens validation)
    {
        Folder = folder;
        Manifest = manifest;
        _train = train;
        _validation = validation;
    }

    /// <summary>The packed folder.</summary>
    public string Folder { get; }

    public CorpusManifest Manifest { get; }

    public string TokenizerName => Manifest.Tokenizer;

    public int VocabSize => Manifest.VocabSize;

    public int EndOfText => Manifest.EndOfText;

    public long TrainTokenCount => Manifest.Train.Tokens;

    public long ValidationTokenCount => Manifest.Validation.Tokens;

    public long TrainDocumentCount => Manifest.Train.Documents;

    public long ValidationDocumentCount => Manifest.Validation.Documents;

    public long TokenCount(CorpusSplit split) => Manifest.For(split).Tokens;

    /// <summary>Opens a folder written by <see cref="CorpusIngestor"/>; a missing, corrupt or truncated file is a <see cref="RunInputException"/> naming it.</summary>
    public static PackedCorpus Open(string folder)
    {
        var full = Path.GetFullPath(folder);
        var manifestPath = Path.Combine(full, CorpusManifest.FileName);
        if (!File.Exists(manifestPath))
        {
            throw new RunInputException(full, $"is not a packed corpus: {CorpusManifest.FileName} is missing");
        }
        CorpusManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<CorpusManifest>(File.ReadAllText(manifestPath), CorpusManifest.Json)
                ?? throw new JsonException("empty");
        }
        catch (JsonException e)
        {
            throw new RunInputException(manifestPath, $"is not a valid corpus manifest: {e.Message}", e);
        }
        if (manifest.Format != CorpusManifest.CurrentFormat || manifest.Train is null || manifest.Validation is null
            || manifest.TokenType is not ("uint16" or "int32") || manifest.Tokenizer is null)
        {
            throw new RunInputException(manifestPath, $"is not a format-{CorpusManifest.CurrentFormat} corpus manifest; delete the folder to re-ingest");
        }
        foreach (var split in new[] { CorpusSplit.Train, CorpusSplit.Validation })
        {
            var info = manifest.For(split);
            CheckSize(Path.Combine(full, CorpusManifest.TokenFileName(split)), info.Tokens * manifest.TokenBytes, manifestPath);
            CheckSize(Path.Combine(full, CorpusManifest.IndexFileName(split)), (info.Documents + 1) * sizeof(long), manifestPath);
        }
        var train = MappedTokens.Map(Path.Combine(full, CorpusManifest.TokenFileName(CorpusSplit.Train)));
        try
        {
            var validation = MappedTokens.Map(Path.Combine(full, CorpusManifest.TokenFileName(CorpusSplit.Validation)));
            return new PackedCorpus(full, manifest, train, validation);
        }
        catch
        {
            train.Dispose();
            throw;
        }
    }

    public void ReadTrain(long start, Span<int> destination) => Read(CorpusSplit.Train, start, destination);

    public void ReadValidation(long start, Span<int> destination) => Read(CorpusSplit.Validation, start, destination);

    /// <summary>Copies tokens [start, start + destination.Length) of a split.</summary>
    public void Read(CorpusSplit split, long start, Span<int> destination)
    {
        var source = Locate(split, start, destination.Length);
        if (Manifest.TokenBytes == 2)
        {
            TokenWidening.Widen(new ReadOnlySpan<ushort>(source, destination.Length), destination);
        }
        else
        {
            new ReadOnlySpan<int>(source, destination.Length).CopyTo(destination);
        }
    }

    /// <summary>Copies tokens [start, start + destination.Length) of a split as the int64 ids tensors take.</summary>
    public void Read(CorpusSplit split, long start, Span<long> destination)
    {
        var source = Locate(split, start, destination.Length);
        if (Manifest.TokenBytes == 2)
        {
            TokenWidening.Widen(new ReadOnlySpan<ushort>(source, destination.Length), destination);
        }
        else
        {
            TokenWidening.Widen(new ReadOnlySpan<int>(source, destination.Length), destination);
        }
    }

    public void Dispose()
    {
        _train.Dispose();
        _validation.Dispose();
    }

    private byte* Locate(CorpusSplit split, long start, int count)
    {
        var tokens = TokenCount(split);
        if (start < 0 || start > tokens - count)
        {
            throw new ArgumentOutOfRangeException(
                nameof(start), $"tokens [{start}, {start + count}) are outside the {split} split of {tokens} tokens");
        }
        var mapped = split == CorpusSplit.Train ? _train : _validation;
        return mapped.Pointer + start * Manifest.TokenBytes;
    }

    private static void CheckSize(string path, long expected, string manifestPath)
    {
        if (!File.Exists(path))
        {
            throw new RunInputException(path, $"is missing; {manifestPath} expects it. Delete the folder to re-ingest");
        }
        var actual = new FileInfo(path).Length;
        if (actual != expected)
        {
            throw new RunInputException(
                path, $"is {actual} bytes but {manifestPath} says {expected}: truncated or corrupt; delete the folder to re-ingest");
        }
    }

    /// <summary>One read-only mapped token file; an empty file maps to nothing (the OS refuses zero-length mappings).</summary>
    private sealed class MappedTokens : IDisposable
    {
        private readonly MemoryMappedFile? _file;
        private readonly MemoryMappedViewAccessor? _view;
        private bool _disposed;

        private MappedTokens(MemoryMappedFile? file, MemoryMappedViewAccessor? view, byte* pointer)
        {
            _file = file;
            _view = view;
            _pointer = pointer;
        }

        private readonly byte* _pointer;

        public byte* Pointer => _disposed ? throw new ObjectDisposedException(nameof(PackedCorpus)) : _pointer;

        public static MappedTokens Map(string path)
        {
            if (new FileInfo(path).Length == 0)
            {
                return new MappedTokens(null, null, null);
            }
            var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            try
            {
                var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                byte* pointer = null;
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
                return new MappedTokens(file, view, pointer + view.PointerOffset);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            if (_view is not null)
            {
                _view.SafeMemoryMappedViewHandle.ReleasePointer();
                _view.Dispose();
            }
            _file?.Dispose();
        }
    }
}
