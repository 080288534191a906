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

    [Fact]
    public void Narrowing_the_extensions_is_another_corpus_even_when_it_selects_the_same_files()
    {
        using var temp = new TempFolder();
        temp.Write("src/a.py", "alpha");
        temp.Write("src/b.py", "beta");
        var cache = temp.Combine("cache");
        var tokenizer = new ByteTokenizer();

        string all;
        using (var corpus = CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.5, 1, NullLogger.Instance))
        {
            all = corpus.Folder;
        }
        using (var python = CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.5, 1, NullLogger.Instance, [".py"]))
        {
            Assert.NotEqual(all, python.Folder);
            // Case and order of the list do not matter: the same selection is the same key.
            using var again = CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.5, 1, NullLogger.Instance, [".PY", ".py"]);
            Assert.Equal(python.Folder, again.Folder);
        }
        using (var withText = CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.5, 1, NullLogger.Instance, [".py", ".txt"]))
        {
            Assert.NotEqual(all, withText.Folder);
        }
        using (var empty = CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.5, 1, NullLogger.Instance, []))
        {
            Assert.Equal(all, empty.Folder); // an empty list is no narrowing
        }
    }
}
