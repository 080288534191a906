using GrowLength.Training.Data;

namespace GrowLength.Training.Tests.Data;

public sealed class TokenizerTests
{
    [Theory]
    [InlineData("hello, world")]
    [InlineData("Grüße, 世界! 🚀🧪 emoji and a ZWJ family 👨‍👩‍👧")]
    [InlineData("")]
    public void Bytes_round_trip_arbitrary_unicode(string text)
    {
        var tokenizer = new ByteTokenizer();
        var tokens = tokenizer.Encode(text);
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), tokens.Length);
        Assert.All(tokens, t => Assert.InRange(t, 0, 255));
        Assert.Equal(text, tokenizer.Decode(tokens));
    }

    [Fact]
    public void Bytes_vocabulary_and_end_of_text()
    {
        var tokenizer = new ByteTokenizer();
        Assert.Equal("bytes", tokenizer.Name);
        Assert.Equal(257, tokenizer.VocabSize);
        Assert.Equal(256, tokenizer.EndOfText);
        Assert.Equal("a<|endoftext|>b", tokenizer.Decode([97, 256, 98]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([257]));
    }

    [Fact]
    public void Gpt2_round_trips_english_with_known_ids()
    {
        var tokenizer = new Gpt2Tokenizer();
        Assert.Equal("gpt2", tokenizer.Name);
        Assert.Equal(50257, tokenizer.VocabSize);
        Assert.Equal(50256, tokenizer.EndOfText);
        // "Hello world" is [15496, 995] in GPT-2's vocabulary.
        Assert.Equal([15496, 995], tokenizer.Encode("Hello world"));
        const string text = "The quick brown fox jumps over the lazy dog.\nIt was the best of times, it was the worst of times.";
        var tokens = tokenizer.Encode(text);
        Assert.True(tokens.Length < text.Length / 2, $"BPE should compress English; got {tokens.Length} tokens");
        Assert.Equal(text, tokenizer.Decode(tokens));
    }

    [Fact]
    public void Catalog_creates_known_tokenizers_and_names_the_setting_for_unknown_ones()
    {
        Assert.IsType<ByteTokenizer>(TokenizerCatalog.Create("bytes"));
        Assert.IsType<Gpt2Tokenizer>(TokenizerCatalog.Create("gpt2"));
        var e = Assert.Throws<RunInputException>(() => TokenizerCatalog.Create("sentencepiece"));
        Assert.Equal("data.tokenizer", e.Subject);
        Assert.Contains("known: bytes, gpt2", e.Problem);
    }

    [Fact]
    public void Chunked_gpt2_encoding_equals_whole_text_encoding()
    {
        // Long enough to be cut into several pieces, with blank lines, indentation and trailing spaces
        // that a careless cut would tokenize differently.
        var lines = Enumerable.Range(0, 20000).Select(i => (i % 7) switch
        {
            0 => string.Empty,
            1 => $"    indented line {i} with   spaces  ",
            2 => $"Paragraph {i}: the model reads text, tokens and more text.",
            3 => "\t tab-led \r",
            _ => $"word{i} — ünïcödé 🚀 {i * 31}",
        });
        var text = string.Join("\n", lines);
        Assert.True(text.Length > 3 * 65536);
        var tokenizer = new Gpt2Tokenizer();
        var pieces = new List<int>();
        var chunker = new TextChunker(tokenizer, t => pieces.AddRange(t.ToArray()));
        for (var i = 0; i < text.Length; i += 10_000)
        {
            chunker.Append(text.AsSpan(i, Math.Min(10_000, text.Length - i)));
        }
        chunker.Finish();
        Assert.Equal(tokenizer.Encode(text), pieces.ToArray());
    }
}
