using GrowLength.Training.Data;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Data;

public sealed class CorpusCacheTests
{
    [Fact]
    public void Second_run_reuses_the_packed_corpus_until_an_input_changes()
    {
        using var temp = new TempFolder();
        temp.Write("src/a.txt", "alpha alpha");
        temp.Write("src/b.txt", "beta");
        var cache = temp.Combine("cache");
        var tokenizer = new ByteTokenizer();

        string folder;
        using (var first = CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.5, 1, NullLogger.Instance))
        {
            folder = first.Folder;
        }
        // A re-ingest would replace the folder and lose this marker.
        var marker = Path.Combine(folder, "marker");
        File.WriteAllText(marker, "still here");
        using (var second = CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.5, 1, NullLogger.Instance))
        {
            Assert.Equal(folder, second.Folder);
            Assert.True(File.Exists(marker));
        }
        using (var otherSeed = CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.5, 2, NullLogger.Instance))
        {
            Assert.NotEqual(folder, otherSeed.Folder);
        }
        using (var otherFraction = CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.25, 1, NullLogger.Instance))
        {
            Assert.NotEqual(folder, otherFraction.Folder);
        }
        temp.Write("src/b.txt", "beta, edited");
        using (var edited = CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.5, 1, NullLogger.Instance))
        {
            Assert.NotEqual(folder, edited.Folder);
            Assert.Equal(11 + 1 + 12 + 1, edited.TrainTokenCount + edited.ValidationTokenCount);
        }
    }
}
