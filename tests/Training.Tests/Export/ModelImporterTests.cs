using System.Text.Json.Nodes;
using GrowLength.Training.Export;
using GrowLength.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace GrowLength.Training.Tests.Export;

/// <summary>Reading an export back: the same weights and logits, and clear errors for files that do not fit.</summary>
public sealed class ModelImporterTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static ModelConfig Tiny => ModelPresets.Tiny() with { VocabSize = 257 };

    private string ExportOf(ModelConfig config, string name = "export", long seed = 5)
    {
        using var model = new GrowLengthTransformer(config, seed);
        ModelExporter.Export(model, temp.Combine(name), "bytes", 64);
        return temp.Combine(name);
    }

    /// <summary>Rewrites one value of config.json's growlength section.</summary>
    private static void EditConfig(string folder, Action<JsonObject> edit)
    {
        var path = Path.Combine(folder, ModelExporter.ConfigFile);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json["growlength"]!.AsObject());
        File.WriteAllText(path, json.ToJsonString());
    }

    [Fact]
    public void TheCorpusSplitTravelsWithTheExportWhenGiven()
    {
        using var model = new GrowLengthTransformer(Tiny, seed: 3);
        ModelExporter.Export(model, temp.Combine("with-split"), "bytes", 64, (0.05, 1235));
        var info = ModelImporter.ReadInfo(temp.Combine("with-split"));
        Assert.Equal((0.05, 1235L), (info.ValidationFraction, info.SplitSeed));
        var old = ModelImporter.ReadInfo(ExportOf(Tiny, "without-split"));
        Assert.Null(old.ValidationFraction);
        Assert.Null(old.SplitSeed);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ExportThenImportGivesBitwiseEqualParametersAndEqualLogits(bool tied)
    {
        var config = Tiny with { TieEmbeddings = tied, RopeTheta = 5000 };
        using var original = new GrowLengthTransformer(config, seed: 11);
        ModelExporter.Export(original, temp.Combine("export"), "bytes", 48);

        var info = ModelImporter.ReadInfo(temp.Combine("export"));
        Assert.Equal(config, info.Model);
        Assert.Equal("bytes", info.Tokenizer);
        Assert.Equal(48, info.TrainedLength);
        using var imported = ModelImporter.Import(info);

        var theirs = imported.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var ours = original.named_parameters().ToList();
        Assert.Equal(ours.Count, theirs.Count);
        foreach (var (name, p) in ours)
            Assert.True(p.shape.SequenceEqual(theirs[name].shape) && p.equal(theirs[name]).all().item<bool>(), $"{name} differs after the round trip");

        using var scope = NewDisposeScope();
        original.PrepareLength(24);
        imported.PrepareLength(24);
        var tokens = randint(0, 257, [2, 24], generator: new Generator(3, CPU));
        using var noGrad = no_grad();
        Assert.True(original.forward(tokens).equal(imported.forward(tokens)).all().item<bool>(), "the logits differ");
    }

    [Fact]
    public void AModelOfAnotherShapeIsRefusedNamingTheFileTheTensorAndBothShapes()
    {
        var folder = ExportOf(Tiny);
        var weights = Path.Combine(folder, ModelExporter.WeightsFile);

        using (var wider = new GrowLengthTransformer(Tiny with { MlpHidden = 128 }, 1))
        {
            var e = Assert.Throws<RunInputException>(() => ModelImporter.LoadInto(weights, wider));
            Assert.Equal(weights, e.Subject);
            Assert.Contains("tensor 'model.layers.0.mlp.gate_proj.weight' has shape [96, 32], the model needs [128, 32]", e.Problem);
            Assert.Contains("different model shape", e.Problem);
        }
        using (var deeper = new GrowLengthTransformer(Tiny with { Layers = 3 }, 1))
        {
            var e = Assert.Throws<RunInputException>(() => ModelImporter.LoadInto(weights, deeper));
            Assert.Equal(weights, e.Subject);
            Assert.Contains("has no tensor 'model.layers.2.input_layernorm.weight'", e.Problem);
        }
        using (var shallower = new GrowLengthTransformer(Tiny with { Layers = 1 }, 1))
        {
            // Every tensor the shallower model needs is there: only the leftover layer shows the mismatch.
            var e = Assert.Throws<RunInputException>(() => ModelImporter.LoadInto(weights, shallower));
            Assert.Equal(weights, e.Subject);
            Assert.Contains("tensor 'model.layers.1.", e.Problem);
            Assert.Contains("is not part of the model", e.Problem);
        }
        using (var untied = new GrowLengthTransformer(Tiny with { TieEmbeddings = false }, 1))
        {
            var e = Assert.Throws<RunInputException>(() => ModelImporter.LoadInto(weights, untied));
            Assert.Contains("has no tensor 'lm_head.weight'", e.Problem);
        }
    }

    [Fact]
    public void AConfigThatDoesNotDescribeTheWeightsIsRefusedOnImport()
    {
        var folder = ExportOf(Tiny);
        // Within what the weights file could hold (the bound ReadInfo checks), so the load finds the mismatch.
        EditConfig(folder, g => g["model"]!["dim"] = 48);
        var info = ModelImporter.ReadInfo(folder);
        var e = Assert.Throws<RunInputException>(() => ModelImporter.Import(info));
        Assert.Equal(info.WeightsPath, e.Subject);
        Assert.Contains("model.embed_tokens.weight", e.Problem);
        Assert.Contains("[257, 32], the model needs [257, 48]", e.Problem);
        Assert.Contains("than config.json describes", e.Problem);
    }

    [Theory]
    [InlineData(100_000, 48, "parameters, more than")]
    [InlineData(2_000_000_000, 2_000_000_000, "more parameters than can be counted")]
    public void AConfigClaimingAModelTheWeightsCannotHoldIsRefusedBeforeAnythingIsAllocated(int dim, int layers, string expected)
    {
        // A hostile export: a tiny model.safetensors beside a config.json of a model of hundreds of GB. Building the
        // model first would allocate it all (or die trying) before the load found the mismatch.
        var folder = ExportOf(Tiny);
        EditConfig(folder, g =>
        {
            g["model"]!["dim"] = dim;
            g["model"]!["heads"] = 2;
            g["model"]!["layers"] = layers;
        });
        var e = Assert.Throws<RunInputException>(() => ModelImporter.ReadInfo(folder));
        Assert.Equal(Path.Combine(folder, ModelExporter.ConfigFile), e.Subject);
        Assert.Contains(expected, e.Problem);
    }

    [Fact]
    public void AConfigWithoutTheGrowLengthSectionIsNamed()
    {
        var folder = ExportOf(Tiny);
        var path = Path.Combine(folder, ModelExporter.ConfigFile);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json.Remove("growlength");
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<RunInputException>(() => ModelImporter.ReadInfo(folder));
        Assert.Equal(path, e.Subject);
        Assert.Contains("growlength section", e.Problem);
    }

    [Theory]
    [InlineData("tokenizer", "klingon", "growlength.tokenizer 'klingon' is unknown")]
    [InlineData("trained_length", "0", "growlength.trained_length must be positive")]
    [InlineData("model.heads", "3", "growlength.model.heads")]
    [InlineData("model.bogus", "1", "growlength.model is not a valid model shape")]
    public void ABadGrowLengthSectionNamesTheFileAndTheKey(string key, string value, string expected)
    {
        var folder = ExportOf(Tiny);
        EditConfig(folder, g =>
        {
            JsonNode node = int.TryParse(value, out var n) ? JsonValue.Create(n) : JsonValue.Create(value);
            if (key.StartsWith("model.", StringComparison.Ordinal)) g["model"]![key["model.".Length..]] = node;
            else g[key] = node;
        });
        var e = Assert.Throws<RunInputException>(() => ModelImporter.ReadInfo(folder));
        Assert.Equal(Path.Combine(folder, ModelExporter.ConfigFile), e.Subject);
        Assert.Contains(expected, e.Problem);
    }

    [Fact]
    public void IsExportNeedsBothFiles()
    {
        var folder = ExportOf(Tiny);
        Assert.True(ModelImporter.IsExport(folder));
        File.Delete(Path.Combine(folder, ModelExporter.WeightsFile));
        Assert.False(ModelImporter.IsExport(folder));
        Assert.False(ModelImporter.IsExport(temp.Combine("nowhere")));
    }
}
