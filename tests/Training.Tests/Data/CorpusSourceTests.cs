using System.Text;
using GrowLength.Training.Data;
using GrowLength.Training.Tests.Checkpoints;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Data;

/// <summary>Which files of a <c>data.path</c> become documents: every UTF-8 text file, narrowed by <c>data.extensions</c>,
/// binary files skipped and counted, hidden folders left out.</summary>
public sealed class CorpusSourceTests
{
    private static readonly NullLogger Log = NullLogger.Instance;

    // The first bytes of a real PNG: the signature (0x89 is not UTF-8 on its own) and the IHDR chunk's length with NULs.
    private static readonly byte[] PngHead = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52];

    private static List<string> AllDocuments(PackedCorpus corpus) =>
        [.. CorpusIngestorTests.Documents(corpus, CorpusSplit.Train, new ByteTokenizer())
            .Concat(CorpusIngestorTests.Documents(corpus, CorpusSplit.Validation, new ByteTokenizer()))
            .Order(StringComparer.Ordinal)];

    [Fact]
    public void A_folder_of_python_files_packs_each_file_as_a_document()
    {
        using var temp = new TempFolder();
        temp.Write("src/main.py", "print('hello')\n");
        temp.Write("src/pkg/util.py", "def add(a, b):\n    return a + b\n");
        temp.Write("src/pkg/__init__.py", "");
        using var corpus = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new ByteTokenizer(), 0.5, 1, Log);
        Assert.Equal(["def add(a, b):\n    return a + b\n", "print('hello')\n"], AllDocuments(corpus));
    }

    [Fact]
    public void Binary_files_are_skipped_and_counted_in_the_ingest_summary()
    {
        using var temp = new TempFolder();
        temp.Write("src/a.py", "x = 1\n");
        temp.Write("src/notes.txt", "plain notes");
        File.WriteAllBytes(temp.Combine("src", "logo.png"), PngHead);
        File.WriteAllBytes(temp.Combine("src", "data.py"), [(byte)'a', 0, (byte)'b']); // a NUL whatever the extension
        File.WriteAllBytes(temp.Combine("src", "latin1.py"), Encoding.Latin1.GetBytes("café")); // not UTF-8
        var log = new RecordingLogger();
        using var corpus = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new ByteTokenizer(), 0.5, 1, log);

        Assert.Equal(["plain notes", "x = 1\n"], AllDocuments(corpus));
        var summary = Assert.Single(log.Entries, e => e.Message.StartsWith("Ingested ", StringComparison.Ordinal)).Message;
        Assert.Contains("3 binary files skipped", summary);
    }

    [Fact]
    public void A_file_whose_extension_says_text_is_held_to_it_rather_than_skipped()
    {
        // .txt, .md and the like were the whole corpus before any file could be one: one of them that is not UTF-8 is
        // still an error naming it, where a file of any other extension would be skipped as binary.
        using var temp = new TempFolder();
        temp.Write("src/a.txt", "fine");
        var latin1 = temp.Combine("src", "notes.md");
        File.WriteAllBytes(latin1, Encoding.Latin1.GetBytes("café"));
        var e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new ByteTokenizer(), 0.5, 1, Log));
        Assert.Equal(latin1, e.Subject);
        Assert.Contains("not valid UTF-8", e.Problem);
    }

    [Fact]
    public void Extensions_narrow_a_folder_to_the_files_ending_in_them()
    {
        using var temp = new TempFolder();
        temp.Write("src/a.py", "python");
        temp.Write("src/b.MD", "markdown");
        temp.Write("src/c.txt", "text");
        temp.Write("src/d.jsonl", "{\"text\":\"json\"}\n");
        temp.Write("src/Makefile", "make");
        using var narrowed = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("narrowed"), new ByteTokenizer(), 0.5, 1, Log, [".py", ".md"]);
        Assert.Equal(["markdown", "python"], AllDocuments(narrowed));

        using var all = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("all"), new ByteTokenizer(), 0.5, 1, Log, []);
        Assert.Equal(["json", "make", "markdown", "python", "text"], AllDocuments(all));

        var e = Assert.Throws<RunInputException>(() =>
            CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("none"), new ByteTokenizer(), 0.5, 1, Log, [".rs"]));
        Assert.Equal(temp.Combine("src"), e.Subject);
        Assert.Contains(".rs", e.Problem);
    }

    [Theory]
    [InlineData("py", "does not start with '.'")]
    [InlineData(".", "not one extension")]
    [InlineData(".tar.gz", "not one extension")]
    [InlineData(".p*", "not a path or a pattern")]
    [InlineData("", "is empty")]
    public void A_malformed_extension_is_named(string extension, string problem)
    {
        using var temp = new TempFolder();
        temp.Write("src/a.py", "python");
        var e = Assert.Throws<RunInputException>(() => CorpusSource.Resolve(temp.Combine("src"), [extension]));
        Assert.Equal("data.extensions", e.Subject);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void A_folder_of_only_binary_files_is_refused_naming_the_folder_and_the_count()
    {
        using var temp = new TempFolder();
        File.WriteAllBytes(temp.Combine("blobs.png"), PngHead); // a sibling, not in the folder
        Directory.CreateDirectory(temp.Combine("blobs"));
        File.WriteAllBytes(temp.Combine("blobs", "a.png"), PngHead);
        File.WriteAllBytes(temp.Combine("blobs", "b.dat"), [1, 2, 0, 3]);
        var e = Assert.Throws<RunInputException>(() =>
            CorpusIngestor.Ingest(temp.Combine("blobs"), temp.Combine("out"), new ByteTokenizer(), 0.5, 1, Log));
        Assert.Equal(temp.Combine("blobs"), e.Subject);
        Assert.Contains("holds no text: 2 binary files were skipped", e.Problem);
        Assert.False(Directory.Exists(temp.Combine("out")));
    }

    [Fact]
    public void Hidden_folders_and_files_such_as_git_are_not_read()
    {
        using var temp = new TempFolder();
        temp.Write("repo/main.py", "code");
        temp.Write("repo/.git/HEAD", "ref: refs/heads/main\n");
        temp.Write("repo/.git/hooks/pre-commit.sample", "#!/bin/sh\n");
        temp.Write("repo/.venv/lib/site.py", "vendored");
        temp.Write("repo/.env", "SECRET=1");
        var source = CorpusSource.Resolve(temp.Combine("repo"));
        Assert.Equal([temp.Combine("repo", "main.py")], source.Files.Select(f => f.FullName));
        using var corpus = CorpusIngestor.Ingest(temp.Combine("repo"), temp.Combine("out"), new ByteTokenizer(), 0.5, 1, Log);
        Assert.Equal(["code"], AllDocuments(corpus));
    }

    [Fact]
    public void A_corpus_folder_inside_a_hidden_folder_is_still_read()
    {
        // The cache's own default corpus lives under .growlength/: only what is hidden below data.path is left out.
        using var temp = new TempFolder();
        temp.Write(".home/corpus/a.txt", "inside");
        Assert.Single(CorpusSource.Resolve(temp.Combine(".home", "corpus")).Files);
    }

    [Fact]
    public void A_file_named_directly_is_read_when_it_is_text_whatever_it_ends_in()
    {
        using var temp = new TempFolder();
        var script = temp.Write("train.py", "import torch\n");
        using var corpus = CorpusIngestor.Ingest(script, temp.Combine("out"), new ByteTokenizer(), 0.5, 1, Log, [".md"]);
        Assert.Equal(["import torch\n"], AllDocuments(corpus));

        var png = temp.Combine("logo.png");
        File.WriteAllBytes(png, PngHead);
        var e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(png, temp.Combine("png"), new ByteTokenizer(), 0.5, 1, Log));
        Assert.Equal(png, e.Subject);
        Assert.Contains("not a corpus file", e.Problem);
    }

    [Fact]
    public void Sniff_reads_text_cut_mid_character_at_the_end_of_its_head_as_text()
    {
        using var temp = new TempFolder();
        // 'é' is two bytes; one 'a' first puts its second byte just past the sniffed head.
        var text = "a" + string.Concat(Enumerable.Repeat("é", CorpusSource.SniffBytes));
        var path = temp.Write("cut.txt", text);
        Assert.Equal(0xC3, File.ReadAllBytes(path)[CorpusSource.SniffBytes - 1]);
        Assert.Null(CorpusSource.Sniff(path));

        // The same lead byte with nothing after it is a truncated character: not UTF-8.
        var truncated = temp.Combine("truncated.txt");
        File.WriteAllBytes(truncated, [(byte)'a', 0xC3]);
        Assert.Contains("not UTF-8", CorpusSource.Sniff(truncated));
        Assert.Null(CorpusSource.Sniff(temp.Write("empty.txt", "")));
    }
}
