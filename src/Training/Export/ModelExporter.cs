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
    public static IReadOnlyList<string> Export(GrowLengthTransformer model, string folder, string tokenizer, int trainedLength)
    {
        Directory.CreateDirectory(folder);
        var config = model.Config;
        using var scope = NewDisposeScope();
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach());
        var tensors = new List<(string, Tensor)> { ("model.embed_tokens.weight", named["embed.weight"]) };
        for (int i = 0; i < config.Layers; i++)
        {
            string ours = $"blocks.{i}", theirs = $"model.layers.{i}";
            var qkv = named[$"{ours}.attn.qkv.weight"].chunk(3, 0); // [3d, d] → 3 × [d, d] in q, k, v order
            tensors.Add(($"{theirs}.input_layernorm.weight", named[$"{ours}.attn_norm.weight"]));
            tensors.Add(($"{theirs}.self_attn.q_proj.weight", qkv[0]));
            tensors.Add(($"{theirs}.self_attn.k_proj.weight", qkv[1]));
            tensors.Add(($"{theirs}.self_attn.v_proj.weight", qkv[2]));
            tensors.Add(($"{theirs}.self_attn.o_proj.weight", named[$"{ours}.attn.proj.weight"]));
            tensors.Add(($"{theirs}.post_attention_layernorm.weight", named[$"{ours}.mlp_norm.weight"]));
            tensors.Add(($"{theirs}.mlp.gate_proj.weight", named[$"{ours}.mlp.gate.weight"]));
            tensors.Add(($"{theirs}.mlp.up_proj.weight", named[$"{ours}.mlp.up.weight"]));
            tensors.Add(($"{theirs}.mlp.down_proj.weight", named[$"{ours}.mlp.down.weight"]));
        }
        tensors.Add(("model.norm.weight", named["norm.weight"]));
        if (!config.TieEmbeddings) tensors.Add(("lm_head.weight", named["lm_head.weight"]));

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
                ["model"] = JsonSerializer.SerializeToNode(config, Run.RunSpecJson.Options),
            },
        };
        var configPath = Path.Combine(folder, ConfigFile);
        File.WriteAllText(configPath, hf.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return [weightsPath, configPath];
    }
}
