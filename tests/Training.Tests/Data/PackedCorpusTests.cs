using GrowLength.Training.Data;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Data;

public sealed class PackedCorpusTests
{
    private static string Pack(TempFolder temp)
    {
        for (var i = 0; i < 10; i++)
        {
            temp.Write($"src/{i}.txt", new string((char)('a' + i), 30 + i));
        }
        CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new ByteTokenizer(), 0.3, 4, NullLogger.Instance).Dispose();
        return temp.Combine("out");
    }

    [Fact]
    public void Reopened_corpus_reads_ranges_as_int_and_long()
    {
        using var temp = new TempFolder();
        using var corpus = PackedCorpus.Open(Pack(temp));
        Assert.Equal(10, corpus.TrainDocumentCount + corpus.ValidationDocumentCount);
        Assert.Equal(Enumerable.Range(0, 10).Sum(i => 31 + i), corpus.TrainTokenCount + corpus.ValidationTokenCount);
        var all = new int[corpus.TrainTokenCount];
        corpus.ReadTrain(0, all);
        var middle = new int[37];
        corpus.ReadTrain(5, middle);
        Assert.Equal(all.AsSpan(5, 37).ToArray(), middle);
        var wide = new long[all.Length - 3];
        corpus.Read(CorpusSplit.Train, 3, wide);
        Assert.Equal(all.Skip(3).Select(t => (long)t), wide);
        Assert.Throws<ArgumentOutOfRangeException>(() => corpus.ReadTrain(corpus.TrainTokenCount - 2, new int[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => corpus.ReadValidation(-1, new int[1]));
    }

    [Theory]
    [InlineData("train.tokens")]
    [InlineData("validation.tokens")]
    [InlineData("train.index")]
    public void Truncated_file_is_named(string name)
    {
        using var temp = new TempFolder();
        var folder = Pack(temp);
        var path = Path.Combine(folder, name);
        using (var stream = new FileStream(path, FileMode.Open))
        {
            stream.SetLength(stream.Length - 2);
        }
        var e = Assert.Throws<RunInputException>(() => PackedCorpus.Open(folder));
        Assert.Equal(path, e.Subject);
    }

    [Fact]
    public void Missing_or_corrupt_manifest_is_named()
    {
        using var temp = new TempFolder();
        var folder = Pack(temp);
        var manifest = Path.Combine(folder, "corpus.json");
        File.WriteAllText(manifest, "{ not json");
        Assert.Equal(manifest, Assert.Throws<RunInputException>(() => PackedCorpus.Open(folder)).Subject);
        File.Delete(manifest);
        Assert.Equal(folder, Assert.Throws<RunInputException>(() => PackedCorpus.Open(folder)).Subject);
    }
}
