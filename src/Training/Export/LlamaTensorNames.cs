using GrowLength.Training.Model;

namespace GrowLength.Training.Export;

/// <summary>Our parameter names and the Hugging Face Llama tensor names they are exported as, in file order.</summary>
/// <remarks>One table for both directions, so export and import cannot drift apart. The fused qkv projection maps to
/// three tensors, q, k and v, each a third of its rows.</remarks>
public static class LlamaTensorNames
{
    /// <summary>Each parameter of a model of <paramref name="config"/>'s shape and the tensor names it becomes.</summary>
    public static IReadOnlyList<(string Ours, string[] Theirs)> For(ModelConfig config)
    {
        var names = new List<(string, string[])> { ("embed.weight", ["model.embed_tokens.weight"]) };
        for (int i = 0; i < config.Layers; i++)
        {
            string ours = $"blocks.{i}", theirs = $"model.layers.{i}";
            names.Add(($"{ours}.attn_norm.weight", [$"{theirs}.input_layernorm.weight"]));
            names.Add(($"{ours}.attn.qkv.weight", [$"{theirs}.self_attn.q_proj.weight", $"{theirs}.self_attn.k_proj.weight", $"{theirs}.self_attn.v_proj.weight"]));
            names.Add(($"{ours}.attn.proj.weight", [$"{theirs}.self_attn.o_proj.weight"]));
            names.Add(($"{ours}.mlp_norm.weight", [$"{theirs}.post_attention_layernorm.weight"]));
            names.Add(($"{ours}.mlp.gate.weight", [$"{theirs}.mlp.gate_proj.weight"]));
            names.Add(($"{ours}.mlp.up.weight", [$"{theirs}.mlp.up_proj.weight"]));
            names.Add(($"{ours}.mlp.down.weight", [$"{theirs}.mlp.down_proj.weight"]));
        }
        names.Add(("norm.weight", ["model.norm.weight"]));
        if (!config.TieEmbeddings) names.Add(("lm_head.weight", ["lm_head.weight"]));
        return names;
    }
}
