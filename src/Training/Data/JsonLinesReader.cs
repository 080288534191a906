namespace GrowLength.Training.Data;

/// <summary>Reads a .jsonl file one line at a time as UTF-8 bytes, never holding more than <c>maxLineBytes</c> + 1 of a
/// line: a line over the limit is reported (file, line number, limit) as soon as its limit is passed, unread beyond it.</summary>
/// <remarks>StreamReader.ReadLine would first build the whole line as a string, so a single multi-gigabyte line (a file
/// without newlines, or a hostile spec's corpus) would exhaust memory before any length check could run. Lines end at
/// '\n'; a '\r' just before it belongs to the terminator, as in ReadLine.</remarks>
internal sealed class JsonLinesReader : IDisposable
{
    private const int ReadBytes = 1 << 16;

    private readonly Stream stream;
    private readonly string path;
    private readonly int maxLineBytes;
    private readonly byte[] buffer = new byte[ReadBytes];
    private int position, filled;
    private byte[] line = new byte[4096];
    private bool ended;

    public JsonLinesReader(string path, long maxLineBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineBytes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxLineBytes, CorpusLimits.MaxDocumentBytesCeiling);
        this.path = path;
        this.maxLineBytes = (int)maxLineBytes;
        stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
    }

    /// <summary>The 1-based number of the line last read.</summary>
    public int LineNumber { get; private set; }

    /// <summary>The next line's bytes without its terminator (a UTF-8 byte order mark at the start of the file is
    /// dropped); false at the end of the file. Valid until the next call.</summary>
    public bool TryReadLine(out ReadOnlyMemory<byte> text)
    {
        text = default;
        if (ended) return false;
        var length = 0;
        var sawAny = false;
        while (true)
        {
            if (position == filled)
            {
                filled = stream.Read(buffer, 0, buffer.Length);
                position = 0;
                if (filled == 0)
                {
                    ended = true;
                    if (!sawAny) return false; // the file ended with its last line's terminator (or is empty)
                    break;
                }
            }
            sawAny = true;
            var available = buffer.AsSpan(position, filled - position);
            var newline = available.IndexOf((byte)'\n');
            var piece = newline < 0 ? available : available[..newline];
            // One byte over the limit is allowed while reading: it may be the '\r' of a "\r\n" terminator.
            if ((long)length + piece.Length > maxLineBytes + 1L) throw TooLong(LineNumber + 1);
            Append(ref length, piece);
            position += piece.Length;
            if (newline >= 0)
            {
                position++; // the '\n'
                break;
            }
        }
        LineNumber++;
        ReadOnlyMemory<byte> result = line.AsMemory(0, length);
        if (!result.IsEmpty && result.Span[^1] == (byte)'\r') result = result[..^1];
        if (result.Length > maxLineBytes) throw TooLong(LineNumber);
        if (LineNumber == 1 && result.Span.StartsWith("\uFEFF"u8)) result = result[3..];
        text = result;
        return true;
    }

    private void Append(ref int length, ReadOnlySpan<byte> piece)
    {
        if (length + piece.Length > line.Length)
        {
            // Doubling, capped at the limit (plus the terminator's '\r'): the buffer never outgrows one allowed line.
            var size = (int)Math.Min(Math.Max((long)line.Length * 2, length + piece.Length), maxLineBytes + 1L);
            Array.Resize(ref line, size);
        }
        piece.CopyTo(line.AsSpan(length));
        length += piece.Length;
    }

    private RunInputException TooLong(int lineNumber) => new(
        $"{path}:{lineNumber}",
        $"is longer than {maxLineBytes:N0} bytes, the most one document may have ({CorpusLimits.MaxDocumentBytesSetting}); "
        + "split the document into several lines, or raise the setting on the silo that packs the corpus");

    public void Dispose() => stream.Dispose();
}
