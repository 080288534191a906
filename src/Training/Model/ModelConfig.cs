using System.Text.Json.Serialization;

namespace GrowLength.Training.Model;

/// <summary>Shape of a decoder-only Transformer (Llama / GPT-NeoX family); saved in every checkpoint.</summary>
public sealed record ModelConfig
{
    /// <summary>Name of the preset this shape came from (informational; the fields below are what count).</summary>
    public string Preset { get; init; } = "custom";

    /// <summary>Vocabulary size; 0 means "take it from the tokenizer" and is resolved at startup.</summary>
    public int VocabSize { get; init; }

    /// <summary>Model width d (embedding size).</summary>
    public int Dim { get; init; } = 256;

    /// <summary>Number of Transformer blocks.</summary>
    public int Layers { get; init; } = 4;

    /// <summary>Attention heads; Dim must divide by it and the head size must be even (RoPE rotates pairs).</summary>
    public int Heads { get; init; } = 4;

    /// <summary>Hidden width of the SwiGLU MLP (about 8/3 of Dim keeps the FLOPs of a 4·d GELU MLP).</summary>
    public int MlpHidden { get; init; } = 704;

    /// <summary>Longest sequence the model accepts; schedules may not exceed it.</summary>
    public int MaxLength { get; init; } = 2048;

    /// <summary>RoPE base θ.</summary>
    public double RopeTheta { get; init; } = 10_000;

    /// <summary>Share the token embedding with the LM head (saves V·d parameters).</summary>
    public bool TieEmbeddings { get; init; } = true;

    /// <summary>RMSNorm epsilon.</summary>
    public double NormEpsilon { get; init; } = 1e-5;

    /// <summary>Standard deviation of the normal weight init; residual projections get it scaled by 1/sqrt(2·Layers).</summary>
    public double InitStd { get; init; } = 0.02;

    /// <summary>Size of one attention head.</summary>
    [JsonIgnore]
    public int HeadDim => Dim / Heads;

    /// <summary>Checks the shape; every error names the field (prefix is the config path, e.g. "model").</summary>
    public void Validate(string path = "model")
    {
        if (VocabSize < 2) throw new RunInputException($"{path}.vocabSize", $"must be at least 2 (is {VocabSize}); leave it 0 to take the tokenizer's.");
        if (Dim < 2) throw new RunInputException($"{path}.dim", $"must be at least 2 (is {Dim}).");
        if (Layers < 1) throw new RunInputException($"{path}.layers", $"must be at least 1 (is {Layers}).");
        if (Heads < 1 || Dim % Heads != 0) throw new RunInputException($"{path}.heads", $"must divide model.dim ({Dim}) (is {Heads}).");
        if (HeadDim % 2 != 0) throw new RunInputException($"{path}.heads", $"head size dim/heads = {HeadDim} must be even for RoPE.");
        if (MlpHidden < 1) throw new RunInputException($"{path}.mlpHidden", $"must be at least 1 (is {MlpHidden}).");
        if (MaxLength < 2) throw new RunInputException($"{path}.maxLength", $"must be at least 2 (is {MaxLength}).");
        if (!(RopeTheta > 1)) throw new RunInputException($"{path}.ropeTheta", $"must be above 1 (is {RopeTheta}).");
        if (!(NormEpsilon > 0)) throw new RunInputException($"{path}.normEpsilon", $"must be positive (is {NormEpsilon}).");
        if (!(InitStd > 0)) throw new RunInputException($"{path}.initStd", $"must be positive (is {InitStd}).");
        try
        {
            _ = ParameterCount;
        }
        catch (OverflowException)
        {
            throw new RunInputException($"{path}.dim", $"a model of dim {Dim}, {Layers} layers, mlpHidden {MlpHidden} and a vocabulary of {VocabSize:N0} has more parameters than can be counted.");
        }
    }

    /// <summary>Number of trainable parameters (tied embeddings counted once).</summary>
    /// <exception cref="OverflowException">the shape (a hostile spec's or export's) has more than a long counts.</exception>
    [JsonIgnore]
    public long ParameterCount
    {
        get
        {
            long d = Dim, v = VocabSize, h = MlpHidden;
            checked
            {
                long perBlock = 4 * d * d + 3 * d * h + 2 * d;
                return v * d + Layers * perBlock + d + (TieEmbeddings ? 0 : v * d);
            }
        }
    }

    /// <summary>Training FLOPs per token at sequence length T: 6·N for the dense weights (embedding lookup excluded)
    /// plus 6·L·d·T for causal attention scores and values.</summary>
    /// <remarks>PaLM (appendix B) and nanoGPT count 12·L·d·T, the full T×T score matrix; a causal kernel computes
    /// only the lower triangle, half of that, so counting 12 would report more than 100% MFU at long lengths.</remarks>
    /// <param name="length">sequence length T.</param>
    /// <param name="causalAttention">false gives PaLM's full-matrix count, for comparison with figures reported that way.</param>
    public double TrainingFlopsPerToken(int length, bool causalAttention = true)
    {
        long dense = MatmulShapes.Sum(m => (long)m.In * m.Out);
        return 6.0 * dense + (causalAttention ? 6.0 : 12.0) * Layers * Dim * length;
    }

    /// <summary>Every weight matrix a token is multiplied by, as (inputs, outputs), in the order of the forward pass:
    /// per block the fused q/k/v projection, the attention output, SwiGLU's gate, up and down; then the LM head.</summary>
    /// <remarks>The token embedding is a lookup, not a matmul; with tied weights it is still the LM head's matmul.
    /// The norm gains are elementwise. These shapes are what <see cref="TrainingFlopsPerToken"/> counts as dense.</remarks>
    [JsonIgnore]
    public IReadOnlyList<(int In, int Out)> MatmulShapes =>
    [
        .. Enumerable.Range(0, Layers).SelectMany(_ => new[] { (Dim, 3 * Dim), (Dim, Dim), (Dim, MlpHidden), (Dim, MlpHidden), (MlpHidden, Dim) }),
        (Dim, VocabSize),
    ];
}
