using System.Text.Json;
using System.Text.Json.Nodes;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Model;
using static TorchSharp.torch;

namespace GrowLength.Training.Export;

/// <summary>Writes a trained model as Hugging Face Llama-style safetensors plus config.json, readable outside GrowLength.</summary>
/// <remarks>Our blocks are the Llama architecture (RMSNorm, rotate-half RoPE, SwiGLU, no biases), so the export
/// splits the fused qkv projection into q/k/v and uses transformers' LlamaForCausalLM tensor names.</remarks>
public static class ModelExporter
{
    public const string WeightsFile = "model.safetensors";
    public const string ConfigFile = "config.json";

    /// <summary>Exports <paramref name="model"/> into <paramref name="folder"/> (created if needed); returns the files written.</summary>
    /// <param name="split">the corpus split the model was trained and validated on, so `growlength eval` of the export
    /// finds the same held-out documents (null: not recorded).</param>
    public static IReadOnlyList<string> Export(GrowLengthTransformer model, string folder, string tokenizer, int trainedLength,
        (double ValidationFraction, long SplitSeed)? split = null)
    {
        Directory.CreateDirectory(folder);
        var config = model.Config;
        using var scope = NewDisposeScope();
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach());
        var tensors = new List<(string, Tensor)>();
        foreach (var (ours, theirs) in LlamaTensorNames.For(config))
        {
            var value = named[ours];
            if (theirs.Length == 1)
            {
                tensors.Add((theirs[0], value));
                continue;
            }
            var pieces = value.chunk(theirs.Length, 0); // qkv [3d, d] → 3 × [d, d] in q, k, v order
            for (int i = 0; i < theirs.Length; i++) tensors.Add((theirs[i], pieces[i]));
        }

        var weightsPath = Path.Combine(folder, WeightsFile);
        using (var stream = File.Create(weightsPath))
            SafeTensors.Write(stream, tensors, new Dictionary<string, string> { ["format"] = "pt" });

        var hf = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = config.Dim,
            ["intermediate_size"] = config.MlpHidden,
            ["num_hidden_layers"] = config.Layers,
            ["num_attention_heads"] = config.Heads,
            ["num_key_value_heads"] = config.Heads,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = config.NormEpsilon,
            ["rope_theta"] = config.RopeTheta,
            ["max_position_embeddings"] = config.MaxLength,
            ["vocab_size"] = config.VocabSize,
            ["tie_word_embeddings"] = config.TieEmbeddings,
            ["attention_bias"] = false,
            ["torch_dtype"] = "float32",
            ["growlength"] = new JsonObject
            {
                ["preset"] = config.Preset,
                ["tokenizer"] = tokenizer,
                ["trained_length"] = trainedLength,
                ["validation_fraction"] = split?.ValidationFraction,
                ["split_seed"] = split?.SplitSeed,
                ["model"] = JsonSerializer.SerializeToNode(config, Run.RunSpecJson.Options),
            },
        };
        var configPath = Path.Combine(folder, ConfigFile);
        File.WriteAllText(configPath, hf.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return [weightsPath, configPath];
    }
}
