using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;

namespace GrowLength.Training.Checkpoints;

/// <summary>Writes and reads the safetensors file format (Hugging Face's format for named tensors).</summary>
/// <remarks>
/// Layout: an 8-byte little-endian header length N, N bytes of JSON describing each tensor's dtype, shape and
/// byte range, then the raw little-endian tensor bytes. Data moves in bounded chunks so a large model is never
/// copied into one managed array.
/// </remarks>
public static class SafeTensors
{
    /// <summary>The header key that holds string-to-string metadata rather than a tensor.</summary>
    public const string MetadataKey = "__metadata__";

    // The reference implementation refuses headers over 100 MB; matching it also bounds what a corrupt
    // length field can make us allocate.
    private const long MaxHeaderBytes = 100_000_000;

    // Big enough that per-chunk overhead is negligible, small enough to stay out of the large-object churn.
    private const long ChunkBytes = 1 << 22;

    /// <summary>
    /// Writes <paramref name="tensors"/> (copied to CPU and made contiguous, in the given order) and optional
    /// <paramref name="metadata"/> to <paramref name="stream"/>. The stream is left open.
    /// </summary>
    public static void Write(
        Stream stream,
        IReadOnlyList<(string Name, torch.Tensor Tensor)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        RequireLittleEndianHost();

        // Copies made here (to CPU, contiguous, detached) are this method's to free; the caller's tensors are not.
        using var scope = torch.NewDisposeScope();
        var prepared = new List<(string Name, string DType, long[] Shape, torch.Tensor Data, long Bytes)>(tensors.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            ArgumentNullException.ThrowIfNull(tensor, name);
            if (string.IsNullOrEmpty(name))
                throw new ArgumentException("A tensor name must not be empty.", nameof(tensors));
            if (name == MetadataKey)
                throw new ArgumentException($"'{MetadataKey}' is reserved for metadata and cannot name a tensor.", nameof(tensors));
            if (!names.Add(name))
                throw new ArgumentException($"The tensor name '{name}' appears twice.", nameof(tensors));
            if (!SafeTensorDTypes.TryFromType(tensor.dtype, out var dtype))
                throw new ArgumentException(
                    $"Tensor '{name}' has dtype {tensor.dtype}; safetensors here supports {SafeTensorDTypes.Supported}.",
                    nameof(tensors));

            var data = tensor.detach().cpu().contiguous();
            prepared.Add((name, dtype, data.shape, data, data.numel() * data.ElementSize));
        }

        var header = BuildHeader(prepared.Select(p => (p.Name, p.DType, p.Shape, p.Bytes)), metadata);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var p in prepared)
            WriteData(stream, p.Data);
    }

    /// <summary>
    /// Reads a safetensors file into CPU tensors (in header order) that own their memory, plus its metadata.
    /// A malformed file throws <see cref="RunInputException"/> naming the file and the problem.
    /// </summary>
    public static (Dictionary<string, torch.Tensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            throw new RunInputException(path, $"cannot open the safetensors file: {e.Message}", e);
        }
        using (stream)
            return Read(stream, path);
    }

    /// <summary>
    /// Reads safetensors from a seekable <paramref name="stream"/> that starts at the file's first byte;
    /// <paramref name="subject"/> names the file in errors.
    /// </summary>
    public static (Dictionary<string, torch.Tensor> Tensors, Dictionary<string, string> Metadata) Read(Stream stream, string subject)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrEmpty(subject);
        if (!stream.CanSeek)
            throw new ArgumentException("Reading safetensors needs a seekable stream, to check ranges against its length.", nameof(stream));
        RequireLittleEndianHost();

        long fileLength = stream.Length;
        if (fileLength < 8)
            throw Bad(subject, $"the file is {fileLength} bytes, too short for the 8-byte header length; it is truncated or not safetensors");

        stream.Position = 0;
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)(fileLength - 8))
            throw Bad(subject, $"the header length field says {headerLength} bytes, but only {fileLength - 8} bytes follow it; the file is truncated or not safetensors");
        if (headerLength > MaxHeaderBytes)
            throw Bad(subject, $"the header length field says {headerLength} bytes, over the {MaxHeaderBytes}-byte limit");

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        var (entries, metadata) = ParseHeader(subject, headerBytes, dataLength);
        CheckRangesTileData(subject, entries, dataLength);

        var tensors = new Dictionary<string, torch.Tensor>(entries.Count, StringComparer.Ordinal);
        try
        {
            foreach (var e in entries)
            {
                var tensor = torch.empty(e.Shape, dtype: e.Type);
                tensors.Add(e.Name, tensor);
                stream.Position = dataStart + e.Begin;
                ReadData(stream, tensor, subject, e.Name);
            }
        }
        catch
        {
            foreach (var t in tensors.Values)
                t.Dispose();
            throw;
        }
        return (tensors, metadata);
    }

    private sealed record HeaderEntry(string Name, string DType, torch.ScalarType Type, long[] Shape, long Begin, long End);

    private static byte[] BuildHeader(
        IEnumerable<(string Name, string DType, long[] Shape, long Bytes)> entries,
        IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is not null)
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata)
                    json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var e in entries)
            {
                json.WriteStartObject(e.Name);
                json.WriteString("dtype", e.DType);
                json.WriteStartArray("shape");
                foreach (var dim in e.Shape)
                    json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += e.Bytes;
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        // Spaces up to a multiple of 8 put the data on an 8-byte boundary, as the specification asks,
        // so readers that map the file can view it in place.
        while (buffer.Length % 8 != 0)
            buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    private static (List<HeaderEntry> Entries, Dictionary<string, string> Metadata) ParseHeader(
        string subject, byte[] headerBytes, long dataLength)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(headerBytes);
        }
        catch (JsonException e)
        {
            throw Bad(subject, $"the header is not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Bad(subject, $"the header must be a JSON object, not {root.ValueKind}");

            var entries = new List<HeaderEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                string name = property.Name;
                if (!seen.Add(name))
                    throw Bad(subject, $"the header names '{name}' twice");
                if (name == MetadataKey)
                {
                    ParseMetadata(subject, property.Value, metadata);
                    continue;
                }
                entries.Add(ParseEntry(subject, name, property.Value, dataLength));
            }
            return (entries, metadata);
        }
    }

    private static void ParseMetadata(string subject, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null)
            return;
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(subject, $"'{MetadataKey}' must be an object of strings, not {value.ValueKind}");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Bad(subject, $"metadata '{item.Name}' must be a string, not {item.Value.ValueKind}");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static HeaderEntry ParseEntry(string subject, string name, JsonElement value, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(subject, $"tensor '{name}' must be described by an object, not {value.ValueKind}");

        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Bad(subject, $"tensor '{name}' has no string 'dtype'");
        string dtype = dtypeElement.GetString()!;
        if (!SafeTensorDTypes.TryFromName(dtype, out var type, out int elementSize))
            throw Bad(subject, $"tensor '{name}' has unknown dtype '{dtype}'; supported: {SafeTensorDTypes.Supported}");

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Bad(subject, $"tensor '{name}' has no 'shape' array");
        var shape = new long[shapeElement.GetArrayLength()];
        int i = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out shape[i]) || shape[i] < 0)
                throw Bad(subject, $"tensor '{name}' has a shape entry {dim.GetRawText()} that is not a non-negative integer");
            i++;
        }

        if (!value.TryGetProperty("data_offsets", out var offsetsElement)
            || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
            throw Bad(subject, $"tensor '{name}' has no 'data_offsets' pair [begin, end]");
        var offsets = new long[2];
        i = 0;
        foreach (var o in offsetsElement.EnumerateArray())
        {
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out offsets[i]) || offsets[i] < 0)
                throw Bad(subject, $"tensor '{name}' has a data offset {o.GetRawText()} that is not a non-negative integer");
            i++;
        }
        var (begin, end) = (offsets[0], offsets[1]);
        if (begin > end)
            throw Bad(subject, $"tensor '{name}' has data_offsets [{begin}, {end}] with begin after end");
        if (end > dataLength)
            throw Bad(subject, $"tensor '{name}' has data_offsets [{begin}, {end}] beyond the {dataLength} data bytes in the file; the file is truncated or the header is wrong");

        long expected;
        try
        {
            expected = elementSize;
            foreach (var dim in shape)
                expected = checked(expected * dim);
        }
        catch (OverflowException e)
        {
            throw Bad(subject, $"tensor '{name}' has shape [{string.Join(", ", shape)}], too large to address", e);
        }
        if (expected != end - begin)
            throw Bad(subject,
                $"tensor '{name}' is {dtype} [{string.Join(", ", shape)}], which needs {expected} bytes, but data_offsets [{begin}, {end}] span {end - begin}");

        return new HeaderEntry(name, dtype, type, shape, begin, end);
    }

    // The specification asks that byte ranges tile the data section exactly: no overlaps (two tensors sharing
    // bytes is corruption here) and no holes or trailing bytes (unexplained bytes mean a mismatched header).
    private static void CheckRangesTileData(string subject, List<HeaderEntry> entries, long dataLength)
    {
        var byOffset = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long cursor = 0;
        HeaderEntry? previous = null;
        foreach (var e in byOffset)
        {
            if (e.Begin < cursor)
                throw Bad(subject, $"tensor '{e.Name}' data_offsets [{e.Begin}, {e.End}] overlap tensor '{previous!.Name}' [{previous.Begin}, {previous.End}]");
            if (e.Begin > cursor)
                throw Bad(subject, $"bytes [{cursor}, {e.Begin}) before tensor '{e.Name}' belong to no tensor");
            cursor = e.End;
            if (e.End > e.Begin || previous is null)
                previous = e;
        }
        if (cursor != dataLength)
            throw Bad(subject, $"the last {dataLength - cursor} data bytes belong to no tensor");
    }

    private static void WriteData(Stream stream, torch.Tensor contiguous)
    {
        long count = contiguous.numel();
        if (count == 0)
            return;
        using var flat = contiguous.reshape(count);
        long perChunk = Math.Max(1, ChunkBytes / contiguous.ElementSize);
        for (long start = 0; start < count; start += perChunk)
        {
            // A narrowed 1-D view of a contiguous tensor is contiguous, so its bytes are a span over libtorch memory.
            using var piece = flat.narrow(0, start, Math.Min(perChunk, count - start));
            stream.Write(piece.bytes);
        }
    }

    private static void ReadData(Stream stream, torch.Tensor tensor, string subject, string name)
    {
        long count = tensor.numel();
        if (count == 0)
            return;
        using var flat = tensor.reshape(count);
        long perChunk = Math.Max(1, ChunkBytes / tensor.ElementSize);
        try
        {
            for (long start = 0; start < count; start += perChunk)
            {
                using var piece = flat.narrow(0, start, Math.Min(perChunk, count - start));
                stream.ReadExactly(piece.bytes);
            }
        }
        catch (EndOfStreamException e)
        {
            throw Bad(subject, $"the file ended inside tensor '{name}'; it changed while being read", e);
        }
    }

    private static void RequireLittleEndianHost()
    {
        // Tensor bytes are copied as-is; the format is little-endian.
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors I/O here assumes a little-endian machine.");
    }

    private static RunInputException Bad(string subject, string problem, Exception? inner = null) =>
        new(subject, $"malformed safetensors file: {problem}", inner);
}
