using System.Buffers.Binary;

namespace GrowLength.Training.Data;

/// <summary>Appends documents to one split's token file and document index through buffered streams.</summary>
/// <remarks>Holds one fixed-size buffer per file, whatever the corpus size: the writing half of streaming ingestion.
/// Every byte it writes is first taken from the cache's budget, when there is one.</remarks>
internal sealed class SplitWriter : IDisposable
{
    private const int BufferBytes = 1 << 20;

    private readonly FileStream _tokens;
    private readonly FileStream _index;
    private readonly int _tokenBytes;
    private readonly int _endOfText;
    private readonly CorpusCacheBudget? _budget;
    private readonly byte[] _scratch = new byte[BufferBytes];
    private bool _inDocument;

    public SplitWriter(string folder, CorpusSplit split, int tokenBytes, int endOfText, CorpusCacheBudget? budget = null)
    {
        TokenPath = Path.Combine(folder, CorpusManifest.TokenFileName(split));
        IndexPath = Path.Combine(folder, CorpusManifest.IndexFileName(split));
        _tokens = new FileStream(TokenPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, BufferBytes);
        _index = new FileStream(IndexPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        _tokenBytes = tokenBytes;
        _endOfText = endOfText;
        _budget = budget;
    }

    public string TokenPath { get; }

    public string IndexPath { get; }

    public long Tokens { get; private set; }

    public long Documents { get; private set; }

    public void BeginDocument()
    {
        WriteOffset(Tokens);
        Documents++;
        _inDocument = true;
    }

    public void Write(ReadOnlySpan<int> tokens)
    {
        while (!tokens.IsEmpty)
        {
            var count = Math.Min(tokens.Length, BufferBytes / _tokenBytes);
            var bytes = _scratch.AsSpan(0, count * _tokenBytes);
            _budget?.Take(bytes.Length);
            if (_tokenBytes == 2)
            {
                for (var i = 0; i < count; i++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.Slice(2 * i), (ushort)tokens[i]);
                }
            }
            else
            {
                for (var i = 0; i < count; i++)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(bytes.Slice(4 * i), tokens[i]);
                }
            }
            _tokens.Write(bytes);
            Tokens += count;
            tokens = tokens.Slice(count);
        }
    }

    /// <summary>Ends the document with end-of-text, so documents are joined by it and the split ends with it.</summary>
    public void EndDocument()
    {
        Write([_endOfText]);
        _inDocument = false;
    }

    /// <summary>Writes the closing offset (the index has Documents + 1 entries) and flushes to disk.</summary>
    public void Complete()
    {
        if (_inDocument)
        {
            throw new InvalidOperationException("a document is still open");
        }
        WriteOffset(Tokens);
        _tokens.Flush(flushToDisk: true);
        _index.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Moves this split's last document to <paramref name="receiver"/>, which must be empty: how ingestion
    /// keeps both splits non-empty without holding documents back. Copies through a fixed buffer.
    /// </summary>
    public void MoveLastDocumentTo(SplitWriter receiver)
    {
        if (Documents < 1 || receiver.Documents != 0)
        {
            throw new InvalidOperationException("needs a document here and none in the receiver");
        }
        _index.Flush();
        var lastStart = ReadOffset(Documents - 1);
        _tokens.Flush();
        _tokens.Position = lastStart * _tokenBytes;
        receiver.WriteOffset(0);
        receiver.Documents = 1;
        int read;
        while ((read = _tokens.Read(_scratch, 0, _scratch.Length)) > 0)
        {
            receiver._tokens.Write(_scratch, 0, read);
            receiver.Tokens += read / _tokenBytes;
        }
        _tokens.SetLength(lastStart * _tokenBytes);
        _tokens.Position = _tokens.Length;
        _index.SetLength((Documents - 1) * sizeof(long));
        _index.Position = _index.Length;
        Tokens = lastStart;
        Documents--;
    }

    public void Dispose()
    {
        _tokens.Dispose();
        _index.Dispose();
    }

    private void WriteOffset(long offset)
    {
        _budget?.Take(sizeof(long));
        Span<byte> bytes = stackalloc byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, offset);
        _index.Write(bytes);
    }

    private long ReadOffset(long document)
    {
        var position = _index.Position;
        _index.Position = document * sizeof(long);
        Span<byte> bytes = stackalloc byte[sizeof(long)];
        _index.ReadExactly(bytes);
        _index.Position = position;
        return BinaryPrimitives.ReadInt64LittleEndian(bytes);
    }
}
