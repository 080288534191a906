using GrowLength.Training.Data;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Data;

public sealed class ValidationWindowsTests
{
    [Fact]
    public void Windows_are_non_overlapping_deterministic_and_shifted_by_one()
    {
        using var temp = new TempFolder();
        for (var i = 0; i < 20; i++)
        {
            temp.Write($"src/{i:D2}.txt", string.Concat(Enumerable.Range(0, 100).Select(k => (char)('a' + (i + k) % 26))));
        }
        using var corpus = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new ByteTokenizer(), 0.5, 9, NullLogger.Instance);
        var validation = new long[corpus.ValidationTokenCount];
        corpus.Read(CorpusSplit.Validation, 0, validation);

        var windows = new ValidationWindows(corpus, 16, 5);
        Assert.Equal(5, windows.Count);
        var x = new long[5 * 16];
        var y = new long[5 * 16];
        windows.Read(0, 5, x, y);
        var starts = Enumerable.Range(0, 5).Select(windows.StartOf).ToList();
        Assert.All(starts.Zip(starts.Skip(1)), p => Assert.True(p.Second >= p.First + 16));
        Assert.True(starts[^1] > validation.Length / 2, "windows should spread over the split");
        for (var k = 0; k < 5; k++)
        {
            Assert.Equal(validation.AsSpan((int)starts[k], 16).ToArray(), x.AsSpan(k * 16, 16).ToArray());
            Assert.Equal(validation.AsSpan((int)starts[k] + 1, 16).ToArray(), y.AsSpan(k * 16, 16).ToArray());
        }

        var again = new long[5 * 16];
        new ValidationWindows(corpus, 16, 5).Read(0, 5, again, new long[5 * 16]);
        Assert.Equal(x, again);

        var all = new ValidationWindows(corpus, 16, int.MaxValue);
        Assert.Equal((validation.Length - 1) / 16, all.Count);
    }

    [Fact]
    public void Windows_carried_as_tokens_read_the_same_as_from_the_corpus()
    {
        using var temp = new TempFolder();
        for (var i = 0; i < 20; i++)
        {
            temp.Write($"src/{i:D2}.txt", string.Concat(Enumerable.Range(0, 100).Select(k => (char)('a' + (i * 7 + k * 3) % 26))));
        }
        using var corpus = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new ByteTokenizer(), 0.5, 9, NullLogger.Instance);
        var windows = new ValidationWindows(corpus, 16, 5);
        var (starts, tokens) = windows.ReadAll();
        Assert.Equal(5 * 17, tokens.Length);
        var carried = ValidationWindows.FromTokens(16, starts, tokens);
        Assert.Equal((windows.ContextLength, windows.Count), (carried.ContextLength, carried.Count));
        Assert.Equal(Enumerable.Range(0, 5).Select(windows.StartOf), Enumerable.Range(0, 5).Select(carried.StartOf));
        var (x, y) = (new long[3 * 16], new long[3 * 16]);
        var (cx, cy) = (new long[3 * 16], new long[3 * 16]);
        windows.Read(1, 3, x, y);
        carried.Read(1, 3, cx, cy);
        Assert.Equal(x, cx);
        Assert.Equal(y, cy);
        Assert.Equal(tokens, carried.ReadAll().Tokens);
        Assert.Throws<ArgumentException>(() => ValidationWindows.FromTokens(16, starts, tokens[..^1]));
    }

    [Fact]
    public void Too_few_validation_tokens_names_eval_lengths()
    {
        using var temp = new TempFolder();
        temp.Write("src/a.txt", "a training document");
        temp.Write("src/b.txt", "tiny");
        using var corpus = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new ByteTokenizer(), 0.5, 1, NullLogger.Instance);
        var e = Assert.Throws<RunInputException>(() => new ValidationWindows(corpus, 64, 10));
        Assert.Equal("eval.lengths", e.Subject);
        Assert.Contains($"{corpus.ValidationTokenCount} tokens", e.Problem);
        Assert.Contains("65", e.Problem);
    }
}
