using GrowLength.Training.Data;

namespace GrowLength.Training.Tests.Data;

/// <summary>Bytes with a vocabulary too large for uint16, so the int32 token files are exercised.</summary>
internal sealed class WideByteTokenizer : ITokenizer
{
    private readonly ByteTokenizer _bytes = new();

    public string Name => "wide-bytes";

    public int VocabSize => 70_000;

    public int EndOfText => 69_999;

    public int[] Encode(string text) => _bytes.Encode(text);

    public string Decode(ReadOnlySpan<int> tokens) => _bytes.Decode(tokens.ToArray().Select(t => t == EndOfText ? 256 : t).ToArray());
}

/// <summary>Fails on a chosen text, to simulate a crash in the middle of an ingest.</summary>
internal sealed class FailingTokenizer(string poison) : ITokenizer
{
    private readonly ByteTokenizer _bytes = new();

    public string Name => "bytes";

    public int VocabSize => 257;

    public int EndOfText => 256;

    public int[] Encode(string text) => text.Contains(poison) ? throw new IOException("simulated crash") : _bytes.Encode(text);

    public string Decode(ReadOnlySpan<int> tokens) => _bytes.Decode(tokens);
}
