using System.Buffers.Binary;
using GrowLength.Training.Data;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Data;

public sealed class CorpusIngestorTests
{
    private static readonly NullLogger Log = NullLogger.Instance;

    /// <summary>Reads a split back as documents (split on end-of-text), decoded.</summary>
    internal static List<string> Documents(PackedCorpus corpus, CorpusSplit split, ITokenizer tokenizer)
    {
        var tokens = new int[corpus.TokenCount(split)];
        corpus.Read(split, 0, tokens);
        var documents = new List<string>();
        var start = 0;
        for (var i = 0; i < tokens.Length; i++)
        {
            if (tokens[i] == tokenizer.EndOfText)
            {
                documents.Add(tokenizer.Decode(tokens.AsSpan(start, i - start)));
                start = i + 1;
            }
        }
        Assert.Equal(tokens.Length, start); // every split ends with end-of-text
        return documents;
    }

    [Fact]
    public void Text_folder_packs_each_file_as_a_document_joined_by_end_of_text()
    {
        using var temp = new TempFolder();
        temp.Write("src/a.txt", "hello");
        temp.Write("src/sub/b.md", "wörld");
        temp.Write("src/c.txt", string.Empty);
        temp.Write("src/notes.csv", "any,text");
        using var corpus = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new ByteTokenizer(), 0.5, 1, Log);

        // 5 + 1, 6 + 1 and 8 + 1 tokens; the empty file is no document, and a .csv is text like any other.
        Assert.Equal(22, corpus.TrainTokenCount + corpus.ValidationTokenCount);
        Assert.Equal(3, corpus.TrainDocumentCount + corpus.ValidationDocumentCount);
        Assert.True(corpus.TrainDocumentCount >= 1 && corpus.ValidationDocumentCount >= 1, "each split gets a document, always");
        var all = Documents(corpus, CorpusSplit.Train, new ByteTokenizer()).Concat(Documents(corpus, CorpusSplit.Validation, new ByteTokenizer()));
        Assert.Equal(["any,text", "hello", "wörld"], all.Order(StringComparer.Ordinal));
        Assert.Equal("bytes", corpus.TokenizerName);
        Assert.Equal("uint16", corpus.Manifest.TokenType);
        Assert.Equal(2L * 22, new FileInfo(temp.Combine("out", "train.tokens")).Length + new FileInfo(temp.Combine("out", "validation.tokens")).Length);
        Assert.DoesNotContain(Directory.GetDirectories(temp.Path), d => d.Contains(".tmp-"));
    }

    [Fact]
    public void Documents_go_to_validation_by_a_seeded_hash_of_their_ordinal()
    {
        using var temp = new TempFolder();
        for (var i = 0; i < 60; i++)
        {
            temp.Write($"src/{i:D3}.txt", $"document number {i}");
        }
        var tokenizer = new ByteTokenizer();
        using var corpus = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), tokenizer, 0.25, 7, Log);
        var expectedValidation = Enumerable.Range(0, 60).Where(i => CorpusIngestor.IsValidationDocument(7, i, 0.25)).ToList();
        Assert.InRange(expectedValidation.Count, 5, 30);
        Assert.Equal(expectedValidation.Select(i => $"document number {i}"), Documents(corpus, CorpusSplit.Validation, tokenizer));
        Assert.Equal(
            Enumerable.Range(0, 60).Except(expectedValidation).Select(i => $"document number {i}"),
            Documents(corpus, CorpusSplit.Train, tokenizer));

        using var other = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out2"), tokenizer, 0.25, 8, Log);
        Assert.NotEqual(Documents(corpus, CorpusSplit.Validation, tokenizer), Documents(other, CorpusSplit.Validation, tokenizer));
    }

    [Fact]
    public void Both_splits_get_a_document_even_at_extreme_fractions()
    {
        using var temp = new TempFolder();
        for (var i = 0; i < 5; i++)
        {
            temp.Write($"src/{i}.txt", $"doc {i}");
        }
        using var none = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("none"), new ByteTokenizer(), 0.0, 3, Log);
        Assert.Equal((4, 1), (none.TrainDocumentCount, none.ValidationDocumentCount));
        Assert.Equal(["doc 4"], Documents(none, CorpusSplit.Validation, new ByteTokenizer()));
        using var most = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("most"), new ByteTokenizer(), 0.999999, 3, Log);
        Assert.Equal((1, 4), (most.TrainDocumentCount, most.ValidationDocumentCount));
    }

    [Fact]
    public void Jsonl_lines_are_documents()
    {
        using var temp = new TempFolder();
        var path = temp.Write("data.jsonl", "{\"text\":\"abc\"}\n\n{\"id\":1,\"text\":\"de\"}\n{\"text\":\"\"}\n");
        using var corpus = CorpusIngestor.Ingest(path, temp.Combine("out"), new ByteTokenizer(), 0.5, 1, Log);
        Assert.Equal(2, corpus.TrainDocumentCount + corpus.ValidationDocumentCount);
        Assert.Equal(3 + 1 + 2 + 1, corpus.TrainTokenCount + corpus.ValidationTokenCount);
    }

    [Fact]
    public void Nanogpt_bin_is_split_on_end_of_text_and_repacked()
    {
        using var temp = new TempFolder();
        ushort[] ids = [1, 2, 3, 50256, 4, 5, 50256, 50256, 6];
        var path = WriteBin(temp.Combine("train.bin"), ids);
        var tokenizer = new Gpt2Tokenizer();
        using var corpus = CorpusIngestor.Ingest(path, temp.Combine("out"), tokenizer, 0.3, 2, Log);
        Assert.Equal(3, corpus.TrainDocumentCount + corpus.ValidationDocumentCount);
        Assert.Equal(4 + 3 + 2, corpus.TrainTokenCount + corpus.ValidationTokenCount);
        var train = new int[corpus.TrainTokenCount];
        corpus.ReadTrain(0, train);
        var validation = new int[corpus.ValidationTokenCount];
        corpus.ReadValidation(0, validation);
        int[][] documents = [[1, 2, 3, 50256], [4, 5, 50256], [6, 50256]];
        var expectedTrain = Enumerable.Range(0, 3).Where(i => !IsValidation(i)).SelectMany(i => documents[i]);
        var expectedValidation = Enumerable.Range(0, 3).Where(IsValidation).SelectMany(i => documents[i]);
        Assert.Equal(expectedTrain, train);
        Assert.Equal(expectedValidation, validation);

        bool IsValidation(int ordinal) =>
            corpus.ValidationDocumentCount == Enumerable.Range(0, 3).Count(i => CorpusIngestor.IsValidationDocument(2, i, 0.3))
                ? CorpusIngestor.IsValidationDocument(2, ordinal, 0.3)
                : throw new Xunit.Sdk.XunitException("the guarantee moved a document; pick another seed for this test");
    }

    [Fact]
    public void Same_ingest_twice_gives_identical_files()
    {
        using var temp = new TempFolder();
        for (var i = 0; i < 20; i++)
        {
            temp.Write($"src/{i:D2}.txt", string.Concat(Enumerable.Repeat($"line {i} ", 50)));
        }
        temp.Write("src/more.jsonl", "{\"text\":\"json one\"}\n{\"text\":\"json two\"}\n");
        CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("a"), new ByteTokenizer(), 0.2, 5, Log).Dispose();
        CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("b"), new ByteTokenizer(), 0.2, 5, Log).Dispose();
        foreach (var name in new[] { "train.tokens", "validation.tokens", "train.index", "validation.index", "corpus.json" })
        {
            Assert.Equal(File.ReadAllBytes(temp.Combine("a", name)), File.ReadAllBytes(temp.Combine("b", name)));
        }
    }

    [Fact]
    public void Large_vocabularies_use_int32_token_files()
    {
        using var temp = new TempFolder();
        temp.Write("src/a.txt", "first");
        temp.Write("src/b.txt", "second");
        using var corpus = CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new WideByteTokenizer(), 0.5, 1, Log);
        Assert.Equal("int32", corpus.Manifest.TokenType);
        Assert.Equal(4 * (6 + 7), new FileInfo(temp.Combine("out", "train.tokens")).Length + new FileInfo(temp.Combine("out", "validation.tokens")).Length);
        var tokens = new long[corpus.TrainTokenCount];
        corpus.Read(CorpusSplit.Train, 0, tokens);
        Assert.Equal(69_999, tokens[^1]);
    }

    [Fact]
    public void A_crash_mid_ingest_leaves_no_corpus_and_no_temporary_folder()
    {
        using var temp = new TempFolder();
        temp.Write("src/a.txt", "fine");
        temp.Write("src/b.txt", "poison here");
        Assert.Throws<IOException>(() =>
            CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new FailingTokenizer("poison"), 0.5, 1, Log));
        Assert.False(Directory.Exists(temp.Combine("out")));
        Assert.Equal([temp.Combine("src")], Directory.GetDirectories(temp.Path));
    }

    [Fact]
    public void Missing_path_is_named()
    {
        using var temp = new TempFolder();
        var missing = temp.Combine("nope");
        var e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(missing, temp.Combine("out"), new ByteTokenizer(), 0.1, 1, Log));
        Assert.Equal(missing, e.Subject);
    }

    [Fact]
    public void Empty_folder_and_zero_token_corpus_are_named()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.Combine("empty"));
        var e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(temp.Combine("empty"), temp.Combine("out"), new ByteTokenizer(), 0.1, 1, Log));
        Assert.Equal(temp.Combine("empty"), e.Subject);

        temp.Write("blank/a.txt", string.Empty);
        temp.Write("blank/b.jsonl", "{\"text\":\"\"}\n");
        e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(temp.Combine("blank"), temp.Combine("out"), new ByteTokenizer(), 0.1, 1, Log));
        Assert.Equal(temp.Combine("blank"), e.Subject);
        Assert.Contains("no documents", e.Problem);
        Assert.False(Directory.Exists(temp.Combine("out")));
    }

    [Fact]
    public void Invalid_utf8_names_the_file()
    {
        using var temp = new TempFolder();
        temp.Write("src/good.txt", "fine");
        var bad = temp.Combine("src", "bad.txt");
        File.WriteAllBytes(bad, [0x61, 0xC3, 0x28, 0x62]);
        var e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new ByteTokenizer(), 0.1, 1, Log));
        Assert.Equal(bad, e.Subject);
        Assert.Contains("UTF-8", e.Problem);
    }

    [Fact]
    public void Invalid_utf8_past_the_sniffed_head_names_the_file_whatever_it_ends_in()
    {
        using var temp = new TempFolder();
        temp.Write("src/good.txt", "fine");
        var bad = temp.Combine("src", "bad.py");
        // Text for the whole sniffed head, so it is read as text, then a broken sequence.
        File.WriteAllBytes(bad, [.. Enumerable.Repeat((byte)'a', CorpusSource.SniffBytes), 0x61, 0xC3, 0x28, 0x62]);
        var e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(temp.Combine("src"), temp.Combine("out"), new ByteTokenizer(), 0.1, 1, Log));
        Assert.Equal(bad, e.Subject);
        Assert.Contains("UTF-8", e.Problem);
    }

    [Theory]
    [InlineData("{\"text\":\"ok\"}\n{\"text\": broken\n", 2)]
    [InlineData("{\"text\":\"ok\"}\n{\"text\":\"ok\"}\n{\"body\":\"no text field\"}\n", 3)]
    [InlineData("[1,2]\n", 1)]
    public void Malformed_json_line_names_file_and_line(string content, int line)
    {
        using var temp = new TempFolder();
        var path = temp.Write("data.jsonl", content);
        var e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(path, temp.Combine("out"), new ByteTokenizer(), 0.1, 1, Log));
        Assert.Equal($"{path}:{line}", e.Subject);
    }

    [Fact]
    public void Bin_needs_the_gpt2_tokenizer()
    {
        using var temp = new TempFolder();
        var path = WriteBin(temp.Combine("train.bin"), [1, 2, 3]);
        var e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(path, temp.Combine("out"), new ByteTokenizer(), 0.1, 1, Log));
        Assert.Equal("data.tokenizer", e.Subject);
        Assert.Contains(path, e.Problem);
    }

    [Fact]
    public void Bin_with_out_of_vocabulary_ids_or_odd_length_names_the_file()
    {
        using var temp = new TempFolder();
        var path = WriteBin(temp.Combine("train.bin"), [1, 2, 60000]);
        var e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(path, temp.Combine("out"), new Gpt2Tokenizer(), 0.1, 1, Log));
        Assert.Equal(path, e.Subject);
        Assert.Contains("60000", e.Problem);

        var odd = temp.Combine("odd.bin");
        File.WriteAllBytes(odd, [1, 0, 2]);
        e = Assert.Throws<RunInputException>(() => CorpusIngestor.Ingest(odd, temp.Combine("out"), new Gpt2Tokenizer(), 0.1, 1, Log));
        Assert.Equal(odd, e.Subject);
    }

    internal static string WriteBin(string path, ushort[] ids)
    {
        var bytes = new byte[ids.Length * 2];
        for (var i = 0; i < ids.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), ids[i]);
        }
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
