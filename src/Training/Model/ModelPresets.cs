namespace GrowLength.Training.Model;

/// <summary>Named model shapes, from a tiny test model to Pythia-like 70M / 160M / 410M.</summary>
public static class ModelPresets
{
    /// <summary>Every preset by name, in size order.</summary>
    public static IReadOnlyDictionary<string, Func<ModelConfig>> All { get; } = new Dictionary<string, Func<ModelConfig>>
    {
        ["tiny"] = Tiny,
        ["cpu-demo"] = CpuDemo,
        ["cpu-small"] = CpuSmall,
        ["pythia-70m"] = Pythia70M,
        ["pythia-160m"] = Pythia160M,
        ["pythia-410m"] = Pythia410M,
    };

    /// <summary>A debug model for tests: trains a step in milliseconds.</summary>
    public static ModelConfig Tiny() => new() { Preset = "tiny", Dim = 32, Layers = 2, Heads = 2, MlpHidden = 96, MaxLength = 256 };

    /// <summary>The CPU demonstration shape: narrow and long, so attention is a real share of each token's cost
    /// (see docs/benchmarks.md for the per-token cost ratio that chose it).</summary>
    /// <remarks>d = 256 rather than 128: at d = 128 the [tokens, 128] × [128, n] matmuls reach only ~55% of the
    /// fp32 matmul rate on 2 cores (model FLOPs utilisation at length 128), at d = 256 ~70–75%, while with a byte
    /// vocabulary causal attention is still ~40% of the FLOPs per token at 2048. Head size 64 (4 heads); SwiGLU
    /// hidden 672 ≈ 8/3·d rounded to a multiple of 32.</remarks>
    public static ModelConfig CpuDemo() => new() { Preset = "cpu-demo", Dim = 256, Layers = 4, Heads = 4, MlpHidden = 672, MaxLength = 2048 };

    /// <summary>The 4-layer, d = 256 shape whose throughput was first measured here (about 4,800 tokens/s at 128 on 2 cores).</summary>
    public static ModelConfig CpuSmall() => new() { Preset = "cpu-small", Dim = 256, Layers = 4, Heads = 4, MlpHidden = 704, MaxLength = 2048 };

    /// <summary>Pythia-70M's width and depth (d = 512, 6 layers, 8 heads) with SwiGLU and RMSNorm.</summary>
    public static ModelConfig Pythia70M() => new() { Preset = "pythia-70m", Dim = 512, Layers = 6, Heads = 8, MlpHidden = 1376, MaxLength = 2048, TieEmbeddings = false };

    /// <summary>Pythia-160M's width and depth (d = 768, 12 layers, 12 heads).</summary>
    public static ModelConfig Pythia160M() => new() { Preset = "pythia-160m", Dim = 768, Layers = 12, Heads = 12, MlpHidden = 2048, MaxLength = 2048, TieEmbeddings = false };

    /// <summary>Pythia-410M's width and depth (d = 1024, 24 layers, 16 heads).</summary>
    public static ModelConfig Pythia410M() => new() { Preset = "pythia-410m", Dim = 1024, Layers = 24, Heads = 16, MlpHidden = 2752, MaxLength = 2048, TieEmbeddings = false };

    /// <summary>Looks a preset up by name; an unknown name is a <see cref="RunInputException"/> on "model.preset".</summary>
    public static ModelConfig ByName(string name) =>
        All.TryGetValue(name, out var make)
            ? make()
            : throw new RunInputException("model.preset", $"unknown preset '{name}'; known: {string.Join(", ", All.Keys)}.");
}
