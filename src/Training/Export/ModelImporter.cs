using System.Text.Json;
using System.Text.Json.Nodes;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Data;
using GrowLength.Training.Model;
using static TorchSharp.torch;

namespace GrowLength.Training.Export;

/// <summary>Reads a folder written by <see cref="ModelExporter"/> back into a <see cref="GrowLengthTransformer"/>.</summary>
/// <remarks>The model shape comes from config.json's growlength.model section, the one place that holds every field of
/// our <see cref="ModelConfig"/> (the Hugging Face keys lack the init and the preset name, which do not change the
/// weights but do change what the model reports). Every problem throws <see cref="RunInputException"/> naming the file.</remarks>
public static class ModelImporter
{
    /// <summary>True when <paramref name="folder"/> holds both files of an export.</summary>
    public static bool IsExport(string folder) =>
        File.Exists(Path.Combine(folder, ModelExporter.ConfigFile)) && File.Exists(Path.Combine(folder, ModelExporter.WeightsFile));

    /// <summary>Reads and checks config.json; loads no tensor.</summary>
    public static ExportedModelInfo ReadInfo(string folder)
    {
        folder = Path.GetFullPath(folder);
        var path = Path.Combine(folder, ModelExporter.ConfigFile);
        if (!File.Exists(path)) throw new RunInputException(path, "not found; an exported model folder holds config.json and model.safetensors.");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new RunInputException(path, $"not valid JSON: {e.Message}", e);
        }
        if (root is not JsonObject || root["growlength"] is not JsonObject section)
            throw new RunInputException(path, "has no growlength section, so it is not a GrowLength export (the model shape, tokenizer and trained length are read from there).");

        ModelConfig model;
        try
        {
            model = section["model"]?.Deserialize<ModelConfig>(Run.RunSpecJson.Options)
                ?? throw new RunInputException(path, "has no growlength.model section (the model shape).");
            model.Validate("growlength.model");
        }
        catch (JsonException e)
        {
            throw new RunInputException(path, $"growlength.model is not a valid model shape: {e.Message}", e);
        }
        catch (RunInputException e) when (e.Subject != path)
        {
            throw new RunInputException(path, e.Message, e);
        }

        // The model is built from this shape before its weights are read: a config.json that claims more parameters than
        // model.safetensors can hold (2 bytes each at the least) would have eval allocate for a model that is not there.
        var weights = new FileInfo(Path.Combine(folder, ModelExporter.WeightsFile));
        if (weights.Exists && model.ParameterCount > weights.Length / 2)
            throw new RunInputException(path, $"growlength.model describes {model.ParameterCount:N0} parameters, "
                + $"more than {weights.FullName} ({weights.Length:N0} bytes) can hold; the two files are not one export.");

        var tokenizer = ReadString(section, "tokenizer", path);
        if (!TokenizerCatalog.Names.Contains(tokenizer))
            throw new RunInputException(path, $"growlength.tokenizer '{tokenizer}' is unknown; known: {string.Join(", ", TokenizerCatalog.Names)}.");
        int trained = section["trained_length"] is JsonValue value && value.TryGetValue<int>(out var n) ? n
            : throw new RunInputException(path, "growlength.trained_length is missing or not a whole number.");
        if (trained < 1) throw new RunInputException(path, $"growlength.trained_length must be positive (is {trained}).");
        double? fraction = section["validation_fraction"] is JsonValue f && f.TryGetValue<double>(out var fv) ? fv : null;
        long? splitSeed = section["split_seed"] is JsonValue sd && sd.TryGetValue<long>(out var sv) ? sv : null;
        return new ExportedModelInfo(folder, model, tokenizer, trained, fraction, splitSeed);
    }

    /// <summary>Builds the model <paramref name="info"/> describes on <paramref name="device"/> and loads the export's weights.</summary>
    public static GrowLengthTransformer Import(ExportedModelInfo info, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(info);
        // The seed only draws initial weights that the load then replaces.
        var model = new GrowLengthTransformer(info.Model, seed: 0, device);
        try
        {
            LoadInto(info.WeightsPath, model);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Copies the tensors of an exported model.safetensors into <paramref name="model"/>, joining q, k and v into
    /// the fused qkv. A missing, unknown or wrongly shaped tensor throws naming the file and the tensor.</summary>
    public static void LoadInto(string weightsPath, GrowLengthTransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var scope = NewDisposeScope();
        var (tensors, _) = SafeTensors.Read(weightsPath);
        var ours = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var names = LlamaTensorNames.For(model.Config);
        if (names.Count != ours.Count || names.Any(n => !ours.ContainsKey(n.Ours)))
            throw new InvalidOperationException("LlamaTensorNames does not cover the model's parameters; the name table and the model have drifted apart.");

        var expected = new List<(string, long[])>();
        foreach (var (name, theirs) in names)
        {
            var shape = ours[name].shape;
            // A fused parameter is split along its rows, one equal piece per exported tensor.
            long[] piece = theirs.Length == 1 ? shape : [shape[0] / theirs.Length, .. shape[1..]];
            foreach (var t in theirs) expected.Add((t, piece));
        }
        ModelTensorCheck.Check(weightsPath, tensors, expected,
            $"the weights are of a different model shape than {ModelExporter.ConfigFile} describes");

        using var noGrad = no_grad();
        foreach (var (name, theirs) in names)
            ours[name].copy_(theirs.Length == 1 ? tensors[theirs[0]] : cat(theirs.Select(t => tensors[t]).ToList(), 0));
    }

    private static string ReadString(JsonObject section, string key, string path) =>
        section[key] is JsonValue value && value.TryGetValue<string>(out var text) && text.Length > 0
            ? text
            : throw new RunInputException(path, $"growlength.{key} is missing or not a string.");
}
