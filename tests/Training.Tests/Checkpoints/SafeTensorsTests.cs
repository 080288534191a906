using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using GrowLength.Training.Checkpoints;
using TorchSharp;

namespace GrowLength.Training.Tests.Checkpoints;

/// <summary>Round trips, header layout and malformed-file errors of <see cref="SafeTensors"/>.</summary>
public sealed class SafeTensorsTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<torch.ScalarType, string> DTypes => new()
    {
        { torch.ScalarType.Float32, "F32" },
        { torch.ScalarType.Float16, "F16" },
        { torch.ScalarType.BFloat16, "BF16" },
        { torch.ScalarType.Float64, "F64" },
        { torch.ScalarType.Int64, "I64" },
        { torch.ScalarType.Int32, "I32" },
        { torch.ScalarType.Byte, "U8" },
    };

    private static readonly long[][] Shapes = [[], [0], [2, 0, 3], [1], [7], [3, 5], [2, 3, 4]];

    private static torch.Tensor Sample(torch.ScalarType type, long[] shape, int seed)
    {
        using var generator = new torch.Generator((ulong)seed);
        if (type is torch.ScalarType.Float32 or torch.ScalarType.Float16 or torch.ScalarType.BFloat16 or torch.ScalarType.Float64)
        {
            using var values = torch.randn(shape, generator: generator) * 100;
            return values.to(type);
        }
        long high = type == torch.ScalarType.Byte ? 256 : 1L << 40;
        long low = type == torch.ScalarType.Byte ? 0 : -(1L << 40);
        using var ints = torch.randint(low, high, shape, dtype: torch.ScalarType.Int64, generator: generator);
        return ints.to(type);
    }

    private static byte[] Bytes(torch.Tensor t)
    {
        using var c = t.contiguous();
        return c.numel() == 0 ? [] : c.bytes.ToArray();
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void EveryDTypeAndShapeRoundTripsBitwise(torch.ScalarType type, string dtypeName)
    {
        var originals = Shapes.Select((shape, i) => ($"{dtypeName}.{i}", Sample(type, shape, i + 1))).ToList();
        var path = _temp.File("all.safetensors");
        using (var file = File.Create(path))
            SafeTensors.Write(file, originals, metadata: null);

        var (tensors, metadata) = SafeTensors.Read(path);
        try
        {
            Assert.Empty(metadata);
            Assert.Equal(originals.Select(o => o.Item1), tensors.Keys);
            foreach (var (name, original) in originals)
            {
                var read = tensors[name];
                Assert.Equal(type, read.dtype);
                Assert.Equal(original.shape, read.shape);
                Assert.Equal(DeviceType.CPU, read.device_type);
                Assert.Equal(Bytes(original), Bytes(read));
            }
            // Some sample must hold non-zero data, or bitwise equality would prove little.
            Assert.Contains(originals, o => Bytes(o.Item2).Any(b => b != 0));
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
            foreach (var (_, t) in originals) t.Dispose();
        }
    }

    [Fact]
    public void NonContiguousAndGradientTrackingInputsAreWrittenAsTheirValues()
    {
        using var matrix = torch.arange(12, dtype: torch.ScalarType.Float32).reshape(3, 4);
        using var transposed = matrix.t();
        using var tracked = torch.ones(2, 2, requires_grad: true);
        var path = _temp.File("views.safetensors");
        using (var file = File.Create(path))
            SafeTensors.Write(file, [("t", transposed), ("g", tracked)]);

        var (tensors, _) = SafeTensors.Read(path);
        using var t = tensors["t"];
        using var g = tensors["g"];
        Assert.Equal(new long[] { 4, 3 }, t.shape);
        Assert.True(t.eq(transposed).all().item<bool>());
        Assert.Equal(new float[] { 0, 4, 8, 1 }, t.data<float>().Take(4).ToArray());
        using var ones = torch.ones(2, 2);
        Assert.True(g.eq(ones).all().item<bool>());
        Assert.False(g.requires_grad);
    }

    [Fact]
    public void TensorsLargerThanOneCopyChunkRoundTrip()
    {
        // 6 MB of F32 and an odd-sized F16 tail cross the 4 MB copy chunk boundary, in both directions.
        using var big = torch.arange(1_500_001, dtype: torch.ScalarType.Float32);
        using var half = torch.linspace(-3, 3, 2_100_003).to(torch.ScalarType.Float16);
        var path = _temp.File("big.safetensors");
        using (var file = File.Create(path))
            SafeTensors.Write(file, [("big", big), ("half", half)]);

        var (tensors, _) = SafeTensors.Read(path);
        using var readBig = tensors["big"];
        using var readHalf = tensors["half"];
        Assert.Equal(Bytes(big), Bytes(readBig));
        Assert.Equal(Bytes(half), Bytes(readHalf));
    }

    [Fact]
    public void ReadTensorsOwnTheirMemory()
    {
        var path = _temp.File("own.safetensors");
        using (var source = torch.arange(1000, dtype: torch.ScalarType.Float32))
        using (var file = File.Create(path))
            SafeTensors.Write(file, [("x", source)]);

        var (tensors, _) = SafeTensors.Read(path);
        using var x = tensors["x"];
        // The file and every buffer used to read it are gone; the tensor must still hold the values.
        File.Delete(path);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.Equal(499500.0, x.sum().item<float>());
        x.add_(1);
        Assert.Equal(500500.0, x.sum().item<float>());
    }

    [Fact]
    public void MetadataRoundTrips()
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["step"] = "120",
            ["note"] = "ünïcödé \"quoted\" \n newline",
            ["empty"] = "",
        };
        var path = _temp.File("meta.safetensors");
        using (var x = torch.zeros(2))
        using (var file = File.Create(path))
            SafeTensors.Write(file, [("x", x)], metadata);

        var (tensors, read) = SafeTensors.Read(path);
        foreach (var t in tensors.Values) t.Dispose();
        Assert.Equal(metadata.OrderBy(kv => kv.Key), read.OrderBy(kv => kv.Key));
    }

    [Fact]
    public void HeaderFollowsTheSpecification()
    {
        using var a = torch.ones(3, dtype: torch.ScalarType.Byte);          // 3 bytes: later offsets are unaligned
        using var b = torch.ones(2, 2, dtype: torch.ScalarType.Float16);    // 8 bytes
        using var c = torch.tensor(5L);                                     // scalar, 8 bytes
        using var d = torch.empty(0, 4, dtype: torch.ScalarType.Float32);   // empty
        using var e = torch.ones(5, dtype: torch.ScalarType.Float64);       // 40 bytes
        using var buffer = new MemoryStream();
        SafeTensors.Write(buffer, [("z.a", a), ("b", b), ("c", c), ("d", d), ("e", e)],
            new Dictionary<string, string> { ["k"] = "v" });
        var file = buffer.ToArray();

        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0UL, n % 8);                                  // data starts 8-byte aligned
        var headerText = Encoding.UTF8.GetString(file, 8, (int)n);
        Assert.StartsWith("{", headerText);
        Assert.Equal(headerText.TrimEnd(' ').Length, headerText.TrimEnd().Length); // padding is spaces only

        using var header = JsonDocument.Parse(headerText);
        var properties = header.RootElement.EnumerateObject().ToList();
        Assert.Equal("v", header.RootElement.GetProperty("__metadata__").GetProperty("k").GetString());
        var tensors = properties.Where(p => p.Name != "__metadata__").ToList();
        Assert.Equal(["z.a", "b", "c", "d", "e"], tensors.Select(p => p.Name));
        Assert.Equal(["U8", "F16", "I64", "F32", "F64"], tensors.Select(p => p.Value.GetProperty("dtype").GetString()));
        Assert.Equal("[]", tensors[2].Value.GetProperty("shape").GetRawText().Replace(" ", ""));
        Assert.Equal([0L, 4L], tensors[3].Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()));

        long cursor = 0;
        long[] sizes = [3, 8, 8, 0, 40];
        for (int i = 0; i < tensors.Count; i++)
        {
            var offsets = tensors[i].Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            Assert.Equal(cursor, offsets[0]);                      // contiguous, in the given order
            Assert.Equal(cursor + sizes[i], offsets[1]);
            cursor = offsets[1];
        }
        Assert.Equal(file.Length - 8 - (long)n, cursor);          // data section is exactly the tensors

        // The raw data is little-endian: the F64 ones at the end, the I64 scalar 5 in the middle.
        long dataStart = 8 + (long)n;
        Assert.Equal(5L, BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan((int)(dataStart + 11))));
        Assert.Equal(1.0, BinaryPrimitives.ReadDoubleLittleEndian(file.AsSpan(file.Length - 8)));
    }

    // ---- malformed files ----

    private string WriteRaw(string name, string headerJson, byte[] data, ulong? lengthOverride = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, lengthOverride ?? (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        var path = _temp.File(name);
        File.WriteAllBytes(path, file);
        return path;
    }

    private static void AssertMalformed(string path, string expectedFragment)
    {
        var e = Assert.Throws<RunInputException>(() => SafeTensors.Read(path));
        Assert.Equal(path, e.Subject);
        Assert.Contains(expectedFragment, e.Problem);
    }

    [Fact]
    public void ValidHandMadeFileReads()
    {
        // The control for the malformed cases below: the same helper with a correct header is accepted.
        var path = WriteRaw("ok.safetensors",
            """{"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}""",
            [1, 0, 0, 0, 2, 0, 0, 0, 7]);
        var (tensors, _) = SafeTensors.Read(path);
        Assert.Equal(new[] { 1, 2 }, tensors["a"].data<int>().ToArray());
        Assert.Equal((byte)7, tensors["b"].item<byte>());
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void FileShorterThanTheLengthFieldIsRejected()
    {
        var path = _temp.File("short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5]);
        AssertMalformed(path, "too short");
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRejected()
    {
        var path = WriteRaw("long-header.safetensors", """{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", [1],
            lengthOverride: 10_000);
        AssertMalformed(path, "header length field says 10000 bytes");
    }

    [Fact]
    public void HeaderThatIsNotJsonIsRejected()
    {
        var path = WriteRaw("not-json.safetensors", "{\"a\": [1, 2", []);
        AssertMalformed(path, "not valid JSON");
    }

    [Fact]
    public void TruncatedDataIsRejected()
    {
        var path = _temp.File("cut.safetensors");
        using (var x = torch.ones(100))
        using (var file = File.Create(path))
            SafeTensors.Write(file, [("x", x)]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^10]);
        AssertMalformed(path, "tensor 'x' has data_offsets [0, 400] beyond the 390 data bytes");
    }

    [Fact]
    public void OffsetsOutOfRangeAreRejected()
    {
        var path = WriteRaw("range.safetensors", """{"a":{"dtype":"U8","shape":[4],"data_offsets":[6,10]}}""", [1, 2, 3, 4]);
        AssertMalformed(path, "beyond the 4 data bytes");
    }

    [Fact]
    public void BeginAfterEndIsRejected()
    {
        var path = WriteRaw("reversed.safetensors", """{"a":{"dtype":"U8","shape":[0],"data_offsets":[3,1]}}""", [1, 2, 3]);
        AssertMalformed(path, "begin after end");
    }

    [Fact]
    public void OverlappingOffsetsAreRejected()
    {
        var path = WriteRaw("overlap.safetensors",
            """{"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[2,6]}}""",
            [1, 2, 3, 4, 5, 6]);
        AssertMalformed(path, "tensor 'b' data_offsets [2, 6] overlap tensor 'a'");
    }

    [Fact]
    public void BytesBelongingToNoTensorAreRejected()
    {
        var gap = WriteRaw("gap.safetensors",
            """{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}""",
            [1, 2, 3]);
        AssertMalformed(gap, "bytes [1, 2) before tensor 'b' belong to no tensor");
        var trailing = WriteRaw("trailing.safetensors", """{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", [1, 2, 3]);
        AssertMalformed(trailing, "the last 2 data bytes belong to no tensor");
    }

    [Fact]
    public void UnknownDTypeIsRejected()
    {
        var path = WriteRaw("dtype.safetensors", """{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}""", new byte[8]);
        AssertMalformed(path, "unknown dtype 'C64'");
    }

    [Fact]
    public void ShapeThatDisagreesWithTheByteRangeIsRejected()
    {
        var path = WriteRaw("size.safetensors", """{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}""", new byte[12]);
        AssertMalformed(path, "needs 16 bytes, but data_offsets [0, 12] span 12");
    }

    [Fact]
    public void MissingFieldsAndBadMetadataAreRejected()
    {
        AssertMalformed(WriteRaw("noshape.safetensors", """{"a":{"dtype":"U8","data_offsets":[0,1]}}""", [1]), "no 'shape' array");
        AssertMalformed(WriteRaw("nooffsets.safetensors", """{"a":{"dtype":"U8","shape":[1]}}""", [1]), "no 'data_offsets' pair");
        AssertMalformed(WriteRaw("negative.safetensors", """{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}""", [1]),
            "not a non-negative integer");
        AssertMalformed(WriteRaw("meta.safetensors", """{"__metadata__":{"k":3}}""", []), "metadata 'k' must be a string");
        AssertMalformed(WriteRaw("array.safetensors", "[1,2]", []), "must be a JSON object");
        AssertMalformed(WriteRaw("dup.safetensors",
            """{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}""", []),
            "names 'a' twice");
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        var path = _temp.File("absent.safetensors");
        var e = Assert.Throws<RunInputException>(() => SafeTensors.Read(path));
        Assert.Equal(path, e.Subject);
    }

    [Fact]
    public void WriterRejectsUnsupportedDTypesAndDuplicateNames()
    {
        using var complex = torch.zeros(2, dtype: torch.ScalarType.ComplexFloat32);
        using var x = torch.zeros(2);
        using var buffer = new MemoryStream();
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(buffer, [("c", complex)]));
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(buffer, [("x", x), ("x", x)]));
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(buffer, [("__metadata__", x)]));
    }
}
