using System.Text.Json.Nodes;

namespace GrowLength.Client.Tests;

/// <summary>`growlength eval` on the trained tiny run's checkpoint and export, and its bad input: exit code 2, one line
/// naming the option or file, and nothing written.</summary>
[Collection(TrainedHomeCollection.Name)]
public sealed class EvalTests(TrainedHome trained) : IDisposable
{
    private const string TableTitle = "Validation perplexity per context length";

    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string Step24 => Path.Combine(trained.Home, "checkpoints", "tiny", "step-000000000024");

    /// <summary>A home of its own, so a test can check that bad input wrote nothing there.</summary>
    private string FreshHome => temp.Combine("home");

    private ProgramResult Eval(params string[] args) => GrowLengthProgram.Run(temp.Path, 120, ["eval", .. args]);

    private static double LossAt(string jsonFile, int length, string mode)
    {
        var results = JsonNode.Parse(File.ReadAllText(jsonFile))!["results"]!.AsArray();
        var row = results.Single(r => (int)r!["length"]! == length && (string?)r["mode"] == mode)!;
        return (double)row["loss"]!;
    }

    [Fact]
    public void ACheckpointAndItsExportGiveTheSameLossAtTheTrainedLength()
    {
        Assert.True(trained.Result.ExitCode == 0, trained.Result.ToString());
        // A trailing separator, as shell completion leaves it, names the same folder.
        var fromCheckpoint = Eval(Step24 + "/", "--home", trained.Home, "--json", temp.Combine("checkpoint.json"));
        Assert.True(fromCheckpoint.ExitCode == 0, fromCheckpoint.ToString());
        Assert.Contains($"checkpoint step 24 of run tiny: {Step24}", fromCheckpoint.Stdout);
        Assert.Contains("model tiny (35,008 parameters), tokenizer bytes, trained length 64", fromCheckpoint.Stdout);
        Assert.Contains(TableTitle, fromCheckpoint.Stdout);
        Assert.Contains("128 (beyond trained)", fromCheckpoint.Stdout); // the spec's eval lengths: 16, 64, 128
        Assert.Contains("NtkAware", fromCheckpoint.Stdout);

        // The same corpus and windows per length as the run's spec (tiny: 4), so the same validation windows.
        var fromExport = Eval(trained.Export, "--data", trained.Corpus, "--windows", "4", "--home", trained.Home, "--json", temp.Combine("export.json"));
        Assert.True(fromExport.ExitCode == 0, fromExport.ToString());
        Assert.Contains($"exported model: {trained.Export}", fromExport.Stdout);
        Assert.Contains("model tiny (35,008 parameters), tokenizer bytes, trained length 64", fromExport.Stdout);
        Assert.Contains(TableTitle, fromExport.Stdout);

        var a = LossAt(temp.Combine("checkpoint.json"), 64, "extrapolate");
        var b = LossAt(temp.Combine("export.json"), 64, "extrapolate");
        Assert.InRange(a, 0.1, 6);
        Assert.Equal(a, b, 6);
        foreach (var mode in new[] { "extrapolate", "interpolate", "ntk" })
            Assert.Equal(LossAt(temp.Combine("checkpoint.json"), 128, mode), LossAt(temp.Combine("export.json"), 128, mode), 6);
    }

    [Fact]
    public void ARunIdUnderHomeEvaluatesItsLatestCheckpointWithTheGivenLengthsAndModes()
    {
        var result = Eval("tiny", "--home", trained.Home, "--lengths", "32,128", "--modes", "interpolate", "--trained-length", "32");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("checkpoint step 24 of run tiny", result.Stdout);
        Assert.Contains("trained length 32", result.Stdout);
        Assert.Contains("128 (beyond trained)", result.Stdout);
        Assert.Contains("Interpolate", result.Stdout);
        Assert.DoesNotContain("NtkAware", result.Stdout);
    }

    [Fact]
    public void ARunsNewestCheckpointPrunedBeforeItsWeightsAreReadGivesWayToTheNewestLeft()
    {
        // What a live run does to a second terminal's eval: the newest checkpoint is verified, then pruned by the run
        // before its weights are read. The eval takes the newest checkpoint left instead of failing.
        var copy = temp.Combine("checkpoints", "tiny");
        TempFolder.CopyTree(Path.Combine(trained.Home, "checkpoints", "tiny"), copy);
        var logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        var chosen = Commands.EvalSource.Open(copy, trained.Home, logger);
        Assert.Equal(Path.Combine(copy, "step-000000000024"), chosen.Folder);

        Directory.Delete(chosen.Folder, recursive: true);
        var (source, model) = chosen.Load(TorchSharp.torch.CPU, logger);
        using var _ = model;
        Assert.Equal(Path.Combine(copy, "step-000000000020"), source.Folder);
        Assert.Equal("checkpoint step 20 of run tiny", source.Description);

        // One checkpoint named by its folder is not replaced by another: its loss is an error naming the file.
        var named = Commands.EvalSource.Open(source.Folder, trained.Home, logger);
        Directory.Delete(named.Folder, recursive: true);
        var e = Assert.Throws<Training.RunInputException>(() => named.Load(TorchSharp.torch.CPU, logger));
        Assert.StartsWith(named.Folder, e.Subject);
        Assert.IsType<DirectoryNotFoundException>(e.InnerException);
    }

    [Fact]
    public void ARunsCheckpointsFolderFallsBackPastACheckpointThatDoesNotVerify()
    {
        var copy = temp.Combine("checkpoints", "tiny");
        TempFolder.CopyTree(Path.Combine(trained.Home, "checkpoints", "tiny"), copy);
        File.AppendAllText(Path.Combine(copy, "step-000000000024", "optimizer.safetensors"), "x");
        var result = Eval(copy, "--home", trained.Home, "--lengths", "64,128", "--windows", "2");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("falling back to step-000000000020", result.Stdout);
        Assert.Contains($"checkpoint step 20 of run tiny: {Path.Combine(copy, "step-000000000020")}", result.Stdout);
        Assert.Contains(TableTitle, result.Stdout);
    }

    /// <summary>Exit 2, one stderr line starting with <paramref name="expected"/>, no table, no JSON, nothing under the home.</summary>
    private void AssertRejected(ProgramResult result, string expected)
    {
        Assert.True(result.ExitCode == 2, $"expected exit 2; {result}");
        var error = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith(expected, error);
        Assert.DoesNotContain("   at ", result.Output);
        Assert.DoesNotContain(TableTitle, result.Stdout);
        Assert.False(File.Exists(temp.Combine("out.json")), "the JSON file was written");
        Assert.False(Directory.Exists(FreshHome), $"something was written under --home; {result}");
    }

    private ProgramResult EvalExport(params string[] args) =>
        Eval([trained.Export, "--data", trained.Corpus, "--home", FreshHome, "--json", temp.Combine("out.json"), .. args]);

    [Theory]
    [InlineData("--lengths", "0", "error: --lengths: '0' is not a length")]
    [InlineData("--lengths", "-64", "error: --lengths: '-64' is not a length")]
    [InlineData("--lengths", "64,lots", "error: --lengths: 'lots' is not a length")]
    [InlineData("--modes", "extrapolate,yarn", "error: --modes: unknown RoPE mode 'yarn'")]
    [InlineData("--windows", "0", "error: --windows: '0' is not a positive whole number")]
    [InlineData("--trained-length", "many", "error: --trained-length: 'many' is not a positive whole number")]
    [InlineData("--device", "tpu", "error: --device: unknown device 'tpu'")]
    [InlineData("--bogus", "1", "error: eval: Unrecognized command or argument '--bogus'")]
    public void ABadOptionIsNamed(string option, string value, string expected) => AssertRejected(EvalExport(option, value), expected);

    [Fact]
    public void AMissingPathIsNamed() =>
        AssertRejected(Eval("--home", FreshHome, "--json", temp.Combine("out.json")), "error: PATH: missing");

    [Fact]
    public void APathThatDoesNotExistIsNamed()
    {
        var missing = temp.Combine("no-such-checkpoint");
        AssertRejected(Eval(missing, "--home", FreshHome), $"error: {missing}: does not exist");
    }

    [Fact]
    public void APathThatIsNeitherACheckpointNorAnExportIsNamed() =>
        AssertRejected(Eval(trained.Corpus, "--home", FreshHome), $"error: {trained.Corpus}: is neither a checkpoint");

    [Fact]
    public void ATamperedCheckpointIsNamedWithTheStoresVerificationMessage()
    {
        var copy = temp.Combine("checkpoints", "tiny", "step-000000000024");
        TempFolder.CopyTree(Step24, copy);
        var model = Path.Combine(copy, "model.safetensors");
        var bytes = File.ReadAllBytes(model);
        bytes[^10] ^= 0x40; // same size, one bit of the last tensor's data flipped
        File.WriteAllBytes(model, bytes);
        AssertRejected(Eval(copy, "--home", FreshHome), $"error: {model}: checksum mismatch: the manifest records SHA-256");
    }

    /// <summary>A copy of the export with config.json's growlength section edited.</summary>
    private string EditedExport(Action<JsonObject> edit)
    {
        var copy = temp.Combine("export");
        TempFolder.CopyTree(trained.Export, copy);
        var config = Path.Combine(copy, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        edit(json["growlength"]!.AsObject());
        File.WriteAllText(config, json.ToJsonString());
        return copy;
    }

    [Fact]
    public void AnExportWhoseTensorsDoNotMatchItsConfigIsNamed()
    {
        var export = EditedExport(g => g["model"]!["mlpHidden"] = 128);
        var result = Eval(export, "--data", trained.Corpus, "--home", FreshHome);
        AssertRejected(result, $"error: {Path.Combine(export, "model.safetensors")}: tensor 'model.layers.0.mlp.gate_proj.weight' has shape [96, 32], the model needs [128, 32]");
        Assert.Contains("different model shape", result.Stderr);
    }

    [Fact]
    public void ATokenizerWithMoreIdsThanTheModelsVocabularyIsNamed()
    {
        var export = EditedExport(g => g["tokenizer"] = "gpt2");
        var result = Eval(export, "--data", trained.Corpus, "--home", FreshHome);
        AssertRejected(result, $"error: {Path.Combine(export, "config.json")}: the gpt2 tokenizer has 50,257 ids, more than the model's vocabulary of 257");
    }

    [Fact]
    public void ALengthLongerThanTheValidationSplitNamesLengths()
    {
        // Past the corpus check, so this one may reuse the trained home's packed corpus; still no table and no JSON.
        var result = Eval(trained.Export, "--data", trained.Corpus, "--home", trained.Home, "--lengths", "64,100000", "--json", temp.Combine("out.json"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("error: --lengths: 100000 needs 100,001 validation tokens for one window", result.Stderr.Trim());
        Assert.DoesNotContain(TableTitle, result.Stdout);
        Assert.False(File.Exists(temp.Combine("out.json")));
    }
}
