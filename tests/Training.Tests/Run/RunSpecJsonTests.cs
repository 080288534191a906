using GrowLength.Training.Model;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Run;

/// <summary>Spec JSON round trips and <c>--section.key=value</c> overrides, including the errors that name the key.</summary>
public sealed class RunSpecJsonTests
{
    public static TheoryData<string> PresetNames() => new(RunSpecPresets.All.Keys);

    [Theory]
    [MemberData(nameof(PresetNames))]
    public void EveryPresetRoundTripsThroughJson(string name)
    {
        var spec = RunSpecPresets.ByName(name);
        var json = RunSpecJson.ToJson(spec);
        var back = RunSpecJson.Parse(json, "test");
        // Records with arrays compare arrays by reference, so compare the canonical JSON and the scalar sections.
        Assert.Equal(json, RunSpecJson.ToJson(back));
        Assert.Equal(spec.Model, back.Model);
        Assert.Equal(spec.Budget, back.Budget);
        Assert.Equal(spec.Checkpoint, back.Checkpoint);
        Assert.Equal(spec.Schedule.Kind, back.Schedule.Kind);
        Assert.Equal(spec.Schedule.MaxLength, back.Schedule.MaxLength);
        Assert.Equal(spec.Eval.Lengths, back.Eval.Lengths);
        Assert.Contains("\"globalBatchTokens\"", json); // camelCase on the wire
    }

    private static RunSpec Apply(params string[] overrides) => RunSpecJson.ApplyOverrides(RunSpecPresets.Tiny(), overrides);

    [Fact]
    public void OverridesSetEveryScalarType()
    {
        var spec = Apply("--schedule.minLength=32", "--seed=99", "--optimizer.peakLearningRate=0.005",
            "--checkpoint.atStageTransitions=false", "--name=other", "--data.tokenizer=gpt2");
        Assert.Equal(32, spec.Schedule.MinLength);
        Assert.Equal(99, spec.Seed);
        Assert.Equal(0.005, spec.Optimizer.PeakLearningRate);
        Assert.False(spec.Checkpoint.AtStageTransitions);
        Assert.Equal("other", spec.Name);
        Assert.Equal("gpt2", spec.Data.Tokenizer);
    }

    [Theory]
    [InlineData("20M", 20_000_000L)]
    [InlineData("500k", 500_000L)]
    [InlineData("1.5G", 1_500_000_000L)]
    [InlineData("12_288", 12_288L)]
    [InlineData("4096", 4096L)]
    public void LongOverridesTakeSuffixes(string text, long expected) =>
        Assert.Equal(expected, Apply($"--budget.tokens={text}").Budget.Tokens);

    [Fact]
    public void ArrayOverridesSplitOnCommas()
    {
        var spec = Apply("--schedule.lengths=128,256,512", "--schedule.shares=0.5, 0.25,0.25", "--eval.ropeModes=ntk");
        Assert.Equal([128, 256, 512], spec.Schedule.Lengths!);
        Assert.Equal([0.5, 0.25, 0.25], spec.Schedule.Shares!);
        Assert.Equal(["ntk"], spec.Eval.RopeModes);
    }

    [Fact]
    public void DataExtensionsComeFromTheCommandLineAndRoundTripThroughJson()
    {
        var spec = Apply("--data.extensions=.py, .md");
        Assert.Equal([".py", ".md"], spec.Data.Extensions!);
        var json = RunSpecJson.ToJson(spec);
        Assert.Contains("\"extensions\"", json);
        Assert.Equal([".py", ".md"], RunSpecJson.Parse(json, "test").Data.Extensions!);
        Assert.Null(RunSpecJson.ApplyOverrides(spec, ["--data.extensions="]).Data.Extensions);
        Assert.Null(RunSpecPresets.Tiny().Data.Extensions); // every text file unless narrowed
    }

    [Fact]
    public void KeysAreCaseInsensitiveAndTheDashesOptional()
    {
        var spec = Apply("SCHEDULE.MINLENGTH=32", "--Budget.Tokens=1k");
        Assert.Equal(32, spec.Schedule.MinLength);
        Assert.Equal(1000, spec.Budget.Tokens);
    }

    [Fact]
    public void OverridesDoNotChangeTheSpecTheyStartFrom()
    {
        var original = RunSpecPresets.Tiny();
        RunSpecJson.ApplyOverrides(original, ["--schedule.minLength=32"]);
        Assert.Equal(16, original.Schedule.MinLength);
    }

    [Fact]
    public void ModelPresetReplacesTheModelAndOtherModelKeysRefineIt()
    {
        // The refinement comes first on the command line: the preset must still be applied before it.
        var spec = Apply("--model.layers=2", "--model.preset=cpu-small");
        var cpuSmall = ModelPresets.CpuSmall();
        Assert.Equal("cpu-small", spec.Model.Preset);
        Assert.Equal(cpuSmall.Dim, spec.Model.Dim);
        Assert.Equal(cpuSmall.MaxLength, spec.Model.MaxLength);
        Assert.Equal(2, spec.Model.Layers);
        Assert.NotEqual(2, cpuSmall.Layers);
    }

    [Fact]
    public void AnUnknownModelPresetNamesModelPreset()
    {
        var e = Assert.Throws<RunInputException>(() => Apply("--model.preset=huge"));
        Assert.Equal("model.preset", e.Subject);
    }

    [Theory]
    [InlineData("--bogus.key=1", "bogus.key")]
    [InlineData("--schedule.bogus=1", "schedule.bogus")]
    [InlineData("--schedule=1", "schedule")]
    [InlineData("--schedule.minLength.deeper=1", "schedule.minLength.deeper")]
    [InlineData("--schedule.minLength=abc", "schedule.minLength")]
    [InlineData("--schedule.minLength=1.5", "schedule.minLength")]
    [InlineData("--budget.tokens=lots", "budget.tokens")]
    [InlineData("--optimizer.peakLearningRate=fast", "optimizer.peakLearningRate")]
    [InlineData("--checkpoint.atStageTransitions=maybe", "checkpoint.atStageTransitions")]
    [InlineData("--schedule.lengths=128,x", "schedule.lengths")]
    [InlineData("--schedule.minLength=", "schedule.minLength")]
    public void BadOverridesNameTheKey(string raw, string subject)
    {
        var e = Assert.Throws<RunInputException>(() => Apply(raw));
        Assert.Equal(subject, e.Subject);
        Assert.False(string.IsNullOrWhiteSpace(e.Problem));
    }

    [Theory]
    [InlineData("--schedule.minLength")]
    [InlineData("schedule.minLength")]
    [InlineData("=5")]
    public void AnOverrideWithoutAnEqualsSignIsNamed(string raw)
    {
        var e = Assert.Throws<RunInputException>(() => Apply(raw));
        Assert.Equal(raw, e.Subject);
        Assert.Contains("--section.key=value", e.Problem);
    }

    [Fact]
    public void ASpecFileWithAnUnknownFieldNamesTheFileAndTheField()
    {
        using var folder = new TempFolder();
        var json = RunSpecJson.ToJson(RunSpecPresets.Tiny()).Replace("\"minLength\"", "\"minLenght\"");
        var path = folder.Write("spec.json", json);
        var e = Assert.Throws<RunInputException>(() => RunSpecJson.Load(path));
        Assert.Equal(path, e.Subject);
        Assert.Contains("minLenght", e.Problem);
    }

    [Fact]
    public void AMalformedSpecFileNamesTheFile()
    {
        using var folder = new TempFolder();
        var path = folder.Write("spec.json", "{ \"name\": \"x\", \"schedule\": { ");
        var e = Assert.Throws<RunInputException>(() => RunSpecJson.Load(path));
        Assert.Equal(path, e.Subject);
        Assert.IsType<System.Text.Json.JsonException>(e.InnerException, exactMatch: false);
    }

    [Fact]
    public void AMissingSpecFileNamesTheFile()
    {
        using var folder = new TempFolder();
        var path = folder.File("absent.json");
        Assert.Equal(path, Assert.Throws<RunInputException>(() => RunSpecJson.Load(path)).Subject);
    }

    [Fact]
    public void ASpecFileWithCommentsAndTrailingCommasLoads()
    {
        using var folder = new TempFolder();
        var path = folder.Write("spec.json", "{ // a comment\n \"name\": \"commented\", \"seed\": 7, }");
        var spec = RunSpecJson.Load(path);
        Assert.Equal("commented", spec.Name);
        Assert.Equal(7, spec.Seed);
    }
}
