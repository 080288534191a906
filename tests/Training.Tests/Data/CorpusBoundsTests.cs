using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using GrowLength.Training.Data;
using GrowLength.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Data;

/// <summary>The bounds on what a corpus may make an ingest hold or write: one document's bytes, and the cache's size.</summary>
public sealed class CorpusBoundsTests
{
    private static readonly NullLogger Log = NullLogger.Instance;

    /// <summary>Every folder and file under <paramref name="folder"/>, relative, sorted: what an ingest left behind.</summary>
    private static List<string> Contents(string folder) => Directory.Exists(folder)
        ? Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(folder, f)).Order(StringComparer.Ordinal).ToList()
        : [];

    private static string Line(string text) => $"{{\"text\":\"{text}\"}}";

    [Fact]
    public void A_jsonl_line_one_byte_over_the_limit_is_named_by_file_and_line_and_nothing_is_cached()
    {
        using var temp = new TempFolder();
        var atLimit = Line(new string('a', 53)); // 64 bytes
        var over = Line(new string('b', 54));    // 65 bytes
        Assert.Equal(64, atLimit.Length);
        // A line of exactly the limit passes, with either terminator.
        var path = temp.Write("data.jsonl", $"{Line("first")}\n{atLimit}\r\n{atLimit}\n{over}\n{Line("never read")}\n");
        var cache = temp.Combine("cache");
        var limits = new CorpusLimits(MaxDocumentBytes: 64);

        var e = Assert.Throws<RunInputException>(() => CorpusCache.GetOrIngest(path, cache, new ByteTokenizer(), 0.5, 1, Log, limits: limits));

        Assert.Equal($"{path}:4", e.Subject);
        Assert.Contains($"{64:N0} bytes", e.Problem);
        Assert.Contains(CorpusLimits.MaxDocumentBytesSetting, e.Problem);
        Assert.Empty(Contents(cache)); // neither a corpus nor the temporary folder it was written into

        // The same file under a limit it meets packs every line.
        using var corpus = CorpusCache.GetOrIngest(path, cache, new ByteTokenizer(), 0.5, 1, Log, limits: new CorpusLimits(MaxDocumentBytes: 65));
        Assert.Equal(5, corpus.TrainDocumentCount + corpus.ValidationDocumentCount);
    }

    [Fact]
    public void A_multi_megabyte_jsonl_line_fails_at_once_without_being_read_into_memory()
    {
        using var temp = new TempFolder();
        var path = temp.Combine("huge.jsonl");
        const int lineBytes = 32 << 20;
        using (var file = new FileStream(path, FileMode.CreateNew))
        {
            file.Write(Encoding.UTF8.GetBytes(Line("small") + "\n{\"text\":\""));
            var chunk = Encoding.ASCII.GetBytes(new string('x', 1 << 20));
            for (var i = 0; i < lineBytes >> 20; i++) file.Write(chunk);
            file.Write("\"}\n"u8);
        }
        var cache = temp.Combine("cache");

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<RunInputException>(() =>
            CorpusCache.GetOrIngest(path, cache, new ByteTokenizer(), 0.5, 1, Log, limits: new CorpusLimits(MaxDocumentBytes: 1024)));
        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        Assert.Equal($"{path}:2", e.Subject);
        // Reading the line whole (ReadLine) would allocate twice its 32 MiB as a string alone. What is allocated here is
        // the ingest's fixed write buffers (about 4 MiB) and one read buffer.
        Assert.True(allocated < 12 << 20, $"{allocated:N0} bytes allocated for a {lineBytes:N0}-byte line under a 1 KiB limit");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Empty(Contents(cache));
    }

    [Fact]
    public void A_text_file_over_the_limit_is_named_before_anything_is_written_but_a_large_binary_file_is_still_skipped()
    {
        using var temp = new TempFolder();
        temp.Write("src/a.txt", "a small document");
        File.WriteAllBytes(temp.Combine("src", "weights.dat"), new byte[4096]); // NUL bytes: binary, skipped whatever its size
        var cache = temp.Combine("cache");
        var limits = new CorpusLimits(MaxDocumentBytes: 1000);
        using (CorpusCache.GetOrIngest(temp.Combine("src"), cache, new ByteTokenizer(), 0.5, 1, Log, limits: limits))
        {
        }
        var packed = Contents(cache);

        var big = temp.Write("src/b.md", new string('z', 1001));
        var e = Assert.Throws<RunInputException>(() => CorpusCache.GetOrIngest(temp.Combine("src"), cache, new ByteTokenizer(), 0.5, 1, Log, limits: limits));

        Assert.Equal(big, e.Subject);
        Assert.Contains($"{1001:N0} bytes", e.Problem);
        Assert.Contains($"{1000:N0} bytes ({CorpusLimits.MaxDocumentBytesSetting})", e.Problem);
        Assert.Equal(packed, Contents(cache)); // the earlier corpus is untouched and nothing was added
    }

    [Fact]
    public async Task A_text_document_with_no_size_to_check_first_is_stopped_at_the_limit_while_it_is_read()
    {
        // A named pipe has no size, so only the count of the bytes read can bound it (a file that grows after the check
        // before the ingest is the same case).
        using var temp = new TempFolder();
        temp.Write("src/a.txt", "a small document");
        var pipe = temp.Combine("src", "b.txt");
        Assert.True(mkfifo(pipe, Convert.ToUInt32("600", 8)) == 0, $"mkfifo {pipe} failed: errno {Marshal.GetLastPInvokeError()}");
        var write = Task.Run(() =>
        {
            using var writer = new FileStream(pipe, FileMode.Open, FileAccess.Write); // waits for the ingest to open the pipe
            writer.Write(Encoding.ASCII.GetBytes(new string('p', 5000)));
        });
        var cache = temp.Combine("cache");

        var e = Assert.Throws<RunInputException>(() =>
            CorpusCache.GetOrIngest(temp.Combine("src"), cache, new ByteTokenizer(), 0.5, 1, Log, limits: new CorpusLimits(MaxDocumentBytes: 1000)));

        await write.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(pipe, e.Subject);
        Assert.Contains($"is more than {1000:N0} bytes", e.Problem);
        Assert.Contains(CorpusLimits.MaxDocumentBytesSetting, e.Problem);
        Assert.Empty(Contents(cache));
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, uint mode);

    [Fact]
    public void A_corpus_that_may_not_fit_beside_the_cache_is_refused_before_anything_is_written()
    {
        using var temp = new TempFolder();
        var source = TinyCorpus.Write(temp.Combine("src"), documents: 4, sentences: 10);
        var cache = temp.Combine("cache");
        temp.Write("cache/corpus-bytes-older/train.tokens", new string('t', 50_000));
        var resolved = CorpusSource.Resolve(source);
        var estimate = CorpusCacheBudget.UpperBound(resolved, tokenBytes: 2);
        var before = Contents(cache);

        // One byte short of the estimate beside the 50,000 bytes already there.
        var limits = new CorpusLimits(CacheMaxBytes: 50_000 + estimate - 1);
        var e = Assert.Throws<RunInputException>(() => CorpusCache.GetOrIngest(source, cache, new ByteTokenizer(), 0.5, 1, Log, limits: limits));

        Assert.Equal(source, e.Subject);
        Assert.Contains($"{estimate:N0} bytes", e.Problem);
        Assert.Contains($"{50_000:N0} bytes", e.Problem);
        Assert.Contains(Path.GetFullPath(cache), e.Problem);
        Assert.Contains(CorpusLimits.CacheMaxBytesSetting, e.Problem);
        Assert.Contains("growlength cache prune", e.Problem);
        Assert.Equal(before, Contents(cache));

        // With the estimate's room it packs; 0 is no limit.
        using (CorpusCache.GetOrIngest(source, cache, new ByteTokenizer(), 0.5, 1, Log, limits: new CorpusLimits(CacheMaxBytes: 50_000 + estimate)))
        {
        }
        using (CorpusCache.GetOrIngest(source, temp.Combine("unbounded"), new ByteTokenizer(), 0.5, 2, Log, limits: new CorpusLimits(CacheMaxBytes: 0)))
        {
        }
    }

    [Fact]
    public void An_ingest_that_writes_past_the_cache_limit_stops_and_leaves_no_temporary_folder()
    {
        using var temp = new TempFolder();
        var source = TinyCorpus.Write(temp.Combine("src"), documents: 4, sentences: 40);
        var cache = temp.Combine("cache");
        // A tokenizer that breaks the estimate's one-token-per-byte bound: only the count while writing can stop it.
        var tokenizer = new RepeatingTokenizer(times: 8);
        var estimate = CorpusCacheBudget.UpperBound(CorpusSource.Resolve(source), tokenBytes: 2);

        var e = Assert.Throws<RunInputException>(() =>
            CorpusCache.GetOrIngest(source, cache, tokenizer, 0.5, 1, Log, limits: new CorpusLimits(CacheMaxBytes: estimate)));

        Assert.Equal(source, e.Subject);
        Assert.Contains("nothing was kept", e.Problem);
        Assert.Contains(CorpusLimits.CacheMaxBytesSetting, e.Problem);
        Assert.Empty(Contents(cache));
    }

    [Fact]
    public void The_estimate_bounds_what_each_tokenizer_really_packs()
    {
        using var temp = new TempFolder();
        TinyCorpus.Write(temp.Combine("src"), documents: 3, sentences: 5);
        temp.Write("src/notes.jsonl", $"{Line("x")}\n{Line("\\u00e9t\\u00e9 \\ud83d\\ude00 \\n tabs\\t")}\n\n{Line("y")}\n");
        temp.Write("src/unicode.txt", "naïve café — 東京 😀");
        foreach (var tokenizer in new ITokenizer[] { new ByteTokenizer(), new Gpt2Tokenizer() })
        {
            var resolved = CorpusSource.Resolve(temp.Combine("src"));
            var estimate = CorpusCacheBudget.UpperBound(resolved, CorpusManifest.TokenBytesFor(tokenizer.VocabSize));
            var cache = temp.Combine($"cache-{tokenizer.Name}");
            using (CorpusCache.GetOrIngest(temp.Combine("src"), cache, tokenizer, 0.5, 1, Log))
            {
            }
            var packed = CorpusCacheContents.BytesIn(cache);
            Assert.InRange(packed, 1, estimate);
        }

        var bin = CorpusIngestorTests.WriteBin(temp.Combine("train.bin"), [1, 50256, 2, 50256, 3, 4, 50256, 5]);
        var binEstimate = CorpusCacheBudget.UpperBound(CorpusSource.Resolve(bin), tokenBytes: 2);
        using (CorpusCache.GetOrIngest(bin, temp.Combine("cache-bin"), new Gpt2Tokenizer(), 0.5, 1, Log))
        {
        }
        Assert.InRange(CorpusCacheContents.BytesIn(temp.Combine("cache-bin")), 1, binEstimate);
    }

    /// <summary>Bytes, each repeated: more tokens than bytes, which no real tokenizer here makes.</summary>
    private sealed class RepeatingTokenizer(int times) : ITokenizer
    {
        private readonly ByteTokenizer bytes = new();

        public string Name => "bytes";

        public int VocabSize => 257;

        public int EndOfText => 256;

        public int[] Encode(string text) => bytes.Encode(text).SelectMany(t => Enumerable.Repeat(t, times)).ToArray();

        public string Decode(ReadOnlySpan<int> tokens) => bytes.Decode(tokens);
    }
}
