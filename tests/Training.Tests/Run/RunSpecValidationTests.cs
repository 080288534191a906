using GrowLength.Training.Data;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Run;

/// <summary>Every bad field of a spec is reported as a <see cref="RunInputException"/> naming that field.</summary>
public sealed class RunSpecValidationTests
{
    [Fact]
    public void ThePresetsAreValid()
    {
        foreach (var (name, make) in RunSpecPresets.All)
            Assert.True(make().Errors().Count == 0, $"preset {name}: {string.Join("; ", make().Errors().Select(e => e.Message))}");
    }

    [Theory]
    [InlineData("--schedule.kind=bogus", "schedule.kind")]
    [InlineData("--schedule.minLength=128", "schedule.minLength")] // tiny's maxLength is 64
    [InlineData("--budget.tokens=0", "budget.tokens")]
    [InlineData("--data.tokenizer=words", "data.tokenizer")]
    [InlineData("--eval.lengths=0", "eval.lengths")]
    [InlineData("--checkpoint.keepLast=0", "checkpoint.keepLast")]
    [InlineData("--device=tpu", "device")]
    [InlineData("--model.heads=3", "model.heads")]
    [InlineData("--data.validationFraction=0.9", "data.validationFraction")]
    [InlineData("--data.extensions=.py,md", "data.extensions")]
    public void EachBadFieldIsNamed(string setting, string field)
    {
        var spec = RunSpecJson.ApplyOverrides(RunSpecPresets.Tiny(), [setting]);
        var errors = spec.Errors();
        Assert.Contains(errors, e => e.Subject == field);
        var thrown = Assert.Throws<RunInputException>(() => spec.Validated());
        Assert.Equal(field, thrown.Subject);
    }

    [Fact]
    public void ScheduleMaxAboveTheModelNamesBothLimits()
    {
        var spec = RunSpecJson.ApplyOverrides(RunSpecPresets.Tiny(), ["--schedule.maxLength=512", "--schedule.globalBatchTokens=1024", "--schedule.microBatchTokens=512"]);
        var e = Assert.Throws<RunInputException>(() => spec.Validated());
        Assert.Equal("schedule.maxLength", e.Subject);
        Assert.Contains("model.maxLength", e.Problem);
        Assert.Contains("256", e.Problem);
    }

    [Fact]
    public void AMissingCorpusPathIsNamed()
    {
        using var folder = new TempFolder();
        var spec = RunSpecPresets.Tiny() with { Data = new DataConfig { Path = folder.Combine("nowhere") } };
        Assert.Equal("data.path", Assert.Throws<RunInputException>(() => spec.Validated()).Subject);
    }

    [Fact]
    public void AVocabularySmallerThanTheTokenizersIsNamed()
    {
        var spec = RunSpecPresets.Tiny() with { Model = RunSpecPresets.Tiny().Model with { VocabSize = 100 } };
        var e = Assert.Throws<RunInputException>(() => spec.WithVocabularyOf(TokenizerCatalog.Create("bytes")));
        Assert.Equal("model.vocabSize", e.Subject);
        Assert.Contains("257", e.Problem);
    }

    [Fact]
    public void AZeroVocabularyTakesTheTokenizers()
    {
        var spec = RunSpecPresets.Tiny().WithVocabularyOf(TokenizerCatalog.Create("bytes"));
        Assert.Equal(257, spec.Model.VocabSize);
    }
}
