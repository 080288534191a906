using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using GrowLength.Training.Tests.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Run;

/// <summary>Opening a run: bad corpora are named before anything trains, and the tiny run opens ready to step.</summary>
public sealed class PreparedRunTests
{
    private static RunSpec TinyOn(string path) =>
        RunSpecPresets.Tiny() with { Data = new DataConfig { Path = path, ValidationFraction = 0.1 } };

    private static RunInputException OpenFails(TempFolder folder, string corpusPath) =>
        Assert.Throws<RunInputException>(() => PreparedRun.Open(TinyOn(corpusPath), folder.Combine("cache"), NullLogger.Instance).Dispose());

    [Fact]
    public void AMissingCorpusPathNamesDataPath()
    {
        using var folder = new TempFolder();
        var e = OpenFails(folder, folder.Combine("no-such-corpus"));
        Assert.Equal("data.path", e.Subject);
        Assert.Contains("no-such-corpus", e.Problem);
        Assert.False(Directory.Exists(folder.Combine("cache")), "nothing may be written for a missing corpus");
    }

    [Fact]
    public void AnEmptyFolderIsNamed()
    {
        using var folder = new TempFolder();
        var empty = folder.Combine("empty");
        Directory.CreateDirectory(empty);
        var e = OpenFails(folder, empty);
        Assert.Equal(empty, e.Subject);
        Assert.Contains("no corpus files", e.Problem);
    }

    [Fact]
    public void ACorpusShorterThanOneStepNamesDataPath()
    {
        using var folder = new TempFolder();
        // About 300 bytes in three documents: more than one block of 64, less than one 512-token step.
        for (int i = 0; i < 3; i++) folder.Write($"short/doc{i}.txt", new string((char)('a' + i), 100));
        var e = OpenFails(folder, folder.Combine("short"));
        Assert.Equal("data.path", e.Subject);
        Assert.Contains("one step needs 513", e.Problem);
    }

    [Fact]
    public void ACorpusShorterThanOneBlockNamesDataPath()
    {
        using var folder = new TempFolder();
        for (int i = 0; i < 3; i++) folder.Write($"short/doc{i}.txt", new string((char)('a' + i), 10));
        Assert.Equal("data.path", OpenFails(folder, folder.Combine("short")).Subject);
    }

    [Fact]
    public void ANonUtf8FileIsNamed()
    {
        using var folder = new TempFolder();
        folder.Write("mixed/good.txt", string.Concat(Enumerable.Repeat("plain text. ", 100)));
        var bad = folder.Combine("mixed", "bad.txt");
        File.WriteAllBytes(bad, [.. "latin-1 caf"u8, 0xE9, (byte)' ', 0xFF, 0xFE, .. "more"u8]);
        var e = OpenFails(folder, folder.Combine("mixed"));
        Assert.Equal(bad, e.Subject);
        Assert.Contains("UTF-8", e.Problem);
    }

    [Fact]
    public void AOneDocumentCorpusHasNothingToValidateOnAndIsRefusedBeforeTraining()
    {
        using var folder = new TempFolder();
        // A lone document always trains (CorpusIngestor), so its validation split is empty: the run could train but never
        // measure its loss.
        folder.Write("one/doc.txt", string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 100)));
        var e = OpenFails(folder, folder.Combine("one"));
        Assert.Equal("data.path", e.Subject);
        Assert.Contains("one document", e.Problem);
        Assert.Contains(folder.Combine("one"), e.Problem);
    }

    [Fact]
    public void AValidationSplitShorterThanTheLongestEvaluationLengthNamesEvalLengths()
    {
        using var folder = new TempFolder();
        var spec = TinyOn(folder.Combine("short-validation"));
        // Two documents with neither drawn for validation: the ingestor holds the last one back, here 100 bytes, fewer than
        // one window at the tiny preset's longest evaluation length (128) needs.
        Assert.False(GrowLength.Training.Data.CorpusIngestor.IsValidationDocument(spec.Seed, 0, spec.Data.ValidationFraction), "premise: document 0 trains");
        Assert.False(GrowLength.Training.Data.CorpusIngestor.IsValidationDocument(spec.Seed, 1, spec.Data.ValidationFraction), "premise: document 1 is not drawn");
        folder.Write("short-validation/a.txt", string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 100)));
        folder.Write("short-validation/b.txt", new string('b', 100));
        var e = Assert.Throws<RunInputException>(() => PreparedRun.Open(spec, folder.Combine("cache"), NullLogger.Instance).Dispose());
        Assert.Equal("eval.lengths", e.Subject);
        Assert.Contains("length 128", e.Problem);
        Assert.Contains("needs 129", e.Problem);

        // Evaluation lengths the split holds (and the curve at schedule.maxLength, 64) open.
        using var run = PreparedRun.Open(spec with { Eval = spec.Eval with { Lengths = [16, 32] } }, folder.Combine("cache"), NullLogger.Instance);
        Assert.InRange(run.Corpus.ValidationTokenCount, 65, 128);
    }

    [Fact]
    public void TheTinyRunOpensWithItsVocabularyAndSchedule()
    {
        using var tiny = new TinyRun();
        using var run = tiny.Open();
        Assert.Equal(257, run.Spec.Model.VocabSize);
        Assert.Equal("bytes", run.Tokenizer.Name);
        Assert.True(run.Stream.TokensPerEpoch > run.Spec.Schedule.GlobalBatchTokens);
        Assert.True(run.Corpus.TrainTokenCount > 10_000, $"train tokens {run.Corpus.TrainTokenCount}");
        var loop = new GrowLength.Training.Engine.RunController(run.Spec);
        Assert.False(loop.IsComplete(TrainingProgress.Initial));
        Assert.Equal(16, loop.Plan(TrainingProgress.Initial).Length);
    }

    [Fact]
    public void OpeningTwiceReusesTheCachedCorpus()
    {
        using var tiny = new TinyRun();
        using (tiny.Open()) { }
        var folders = Directory.GetDirectories(tiny.CacheRoot);
        using (var again = tiny.Open())
            Assert.True(again.Corpus.TrainTokenCount > 0);
        Assert.Equal(folders, Directory.GetDirectories(tiny.CacheRoot));
        Assert.Single(folders);
    }
}
