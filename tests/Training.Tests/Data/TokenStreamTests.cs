using GrowLength.Training.Data;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Data;

public sealed class TokenStreamTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly PackedCorpus _corpus;

    public TokenStreamTests()
    {
        // 1,000-odd train tokens with varied bytes, so blocks are distinguishable.
        for (var i = 0; i < 12; i++)
        {
            _temp.Write($"src/{i:D2}.txt", string.Concat(Enumerable.Range(0, 90).Select(k => (char)(' ' + (i * 7 + k * 13) % 90))));
        }
        _corpus = CorpusIngestor.Ingest(_temp.Combine("src"), _temp.Combine("out"), new ByteTokenizer(), 0.2, 3, NullLogger.Instance);
    }

    public void Dispose()
    {
        _corpus.Dispose();
        _temp.Dispose();
    }

    /// <summary>The stream as the protocol defines it, built the slow obvious way from the permutations.</summary>
    private long[] ExpectedStream(TokenStream stream, long count)
    {
        var train = new long[_corpus.TrainTokenCount];
        _corpus.Read(CorpusSplit.Train, 0, train);
        var expected = new List<long>();
        for (var epoch = 0L; expected.Count < count; epoch++)
        {
            foreach (var block in stream.EpochPermutation(epoch))
            {
                expected.AddRange(train.AsSpan((int)(block * stream.BlockLength), stream.BlockLength).ToArray());
            }
        }
        return expected.Take((int)count).ToArray();
    }

    [Fact]
    public void Steps_of_changing_length_consume_the_stream_exactly_once()
    {
        var stream = new TokenStream(_corpus, 32, 11);
        const int globalTokens = 64;
        int[] lengths = [8, 8, 8, 16, 16, 32];
        var inputs = new List<long>();
        var targets = new List<long>();
        long offset = 0;
        foreach (var length in lengths)
        {
            var rows = globalTokens / length;
            var x = new long[rows * length];
            var y = new long[rows * length];
            stream.ReadRows(offset, length, rows, 0, 1, x, y);
            for (var r = 0; r < rows; r++)
            {
                // Targets are the inputs shifted by one, within each row.
                Assert.Equal(x.AsSpan(r * length + 1, length - 1).ToArray(), y.AsSpan(r * length, length - 1).ToArray());
            }
            inputs.AddRange(x);
            targets.AddRange(y);
            offset += globalTokens;
        }
        var expected = ExpectedStream(stream, offset + 1);
        Assert.Equal(expected.Take((int)offset), inputs);
        Assert.Equal(expected.Skip(1), targets);
    }

    [Fact]
    public void Union_of_all_ranks_rows_equals_the_single_worker_rows()
    {
        var stream = new TokenStream(_corpus, 16, 5);
        const int length = 8, rows = 7;
        var x1 = new long[rows * length];
        var y1 = new long[rows * length];
        stream.ReadRows(100, length, rows, 0, 1, x1, y1);
        foreach (var world in new[] { 2, 3 })
        {
            var x = new long[rows * length];
            var y = new long[rows * length];
            var total = 0;
            for (var rank = 0; rank < world; rank++)
            {
                var mine = TokenStream.RowsFor(rows, rank, world);
                total += mine;
                var xr = new long[mine * length];
                var yr = new long[mine * length];
                stream.ReadRows(100, length, rows, rank, world, xr, yr);
                for (var j = 0; j < mine; j++)
                {
                    var row = rank + j * world;
                    xr.AsSpan(j * length, length).CopyTo(x.AsSpan(row * length));
                    yr.AsSpan(j * length, length).CopyTo(y.AsSpan(row * length));
                }
            }
            Assert.Equal(rows, total);
            Assert.Equal(x1, x);
            Assert.Equal(y1, y);
        }
        Assert.Equal([3, 2, 2], new[] { 0, 1, 2 }.Select(r => TokenStream.RowsFor(7, r, 3)));
        Assert.Equal(0, TokenStream.RowsFor(2, 2, 3));
    }

    [Fact]
    public void Epochs_are_permutations_that_differ_by_epoch_and_seed()
    {
        var stream = new TokenStream(_corpus, 16, 5);
        Assert.Equal(_corpus.TrainTokenCount / 16, stream.BlockCount);
        Assert.Equal(stream.BlockCount * 16, stream.TokensPerEpoch);
        var e0 = stream.EpochPermutation(0);
        var e1 = stream.EpochPermutation(1);
        Assert.Equal(Enumerable.Range(0, (int)stream.BlockCount).Select(i => (long)i), e0.Order());
        Assert.Equal(Enumerable.Range(0, (int)stream.BlockCount).Select(i => (long)i), e1.Order());
        Assert.NotEqual(e0, e1);
        Assert.NotEqual(e0, new TokenStream(_corpus, 16, 6).EpochPermutation(0));
        Assert.Equal(e1, new TokenStream(_corpus, 16, 5).EpochPermutation(1)); // a pure function of (seed, epoch)

        // Across an epoch boundary the stream reads epoch 1's first block right after epoch 0's last.
        var span = new long[32];
        stream.Read(stream.TokensPerEpoch - 16, span);
        Assert.Equal(ExpectedStream(stream, stream.TokensPerEpoch + 16).Skip((int)stream.TokensPerEpoch - 16), span);
    }

    [Fact]
    public void A_corpus_shorter_than_one_block_is_named()
    {
        var e = Assert.Throws<RunInputException>(() => new TokenStream(_corpus, 100_000, 1));
        Assert.Equal("data.path", e.Subject);
        Assert.Contains($"corpus has {_corpus.TrainTokenCount} training tokens", e.Problem);
        Assert.Contains("100000", e.Problem);
    }

    [Fact]
    public void Span_sizes_must_match_the_workers_rows()
    {
        var stream = new TokenStream(_corpus, 16, 5);
        Assert.Throws<ArgumentException>(() => stream.ReadRows(0, 8, 4, 0, 2, new long[4 * 8], new long[4 * 8]));
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.ReadRows(0, 8, 4, 2, 2, new long[0], new long[0]));
    }
}
