using GrowLength.Training.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace GrowLength.Training.Tests.Model;

/// <summary>The whole model against a from-scratch float64 forward pass: explicit causal softmax attention per head,
/// textbook RoPE and RMSNorm, SwiGLU, tied LM head. Catches a wrong head split, mask, rotation or residual wiring
/// that the per-component tests cannot see.</summary>
public sealed class ReferenceForwardTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LogitsMatchAFloat64ReferenceImplementation(bool tied)
    {
        var config = ModelPresets.Tiny() with { VocabSize = 40, Dim = 24, Heads = 3, MlpHidden = 40, TieEmbeddings = tied };
        using var model = new GrowLengthTransformer(config, seed: 5);
        const int length = 11;
        model.PrepareLength(length);
        using var scope = NewDisposeScope();
        var tokens = randint(0, 40, [2, length], generator: new Generator(3, CPU));
        using var noGrad = no_grad();
        var actual = model.forward(tokens).to(ScalarType.Float64);
        var expected = Reference(config, model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().to(ScalarType.Float64)), tokens);
        Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-5), $"max difference {(actual - expected).abs().max().item<double>()}");
    }

    private static Tensor Reference(ModelConfig c, Dictionary<string, Tensor> w, Tensor tokens)
    {
        long b = tokens.shape[0], t = tokens.shape[1];
        int hd = c.HeadDim, half = hd / 2;
        Tensor Norm(Tensor x, Tensor g) => x / (x.square().mean([-1], keepdim: true) + c.NormEpsilon).sqrt() * g;
        var inv = pow(c.RopeTheta, -arange(0, half, dtype: ScalarType.Float64) * (2.0 / hd));
        var angles = outer(arange(0, t, dtype: ScalarType.Float64), inv);
        var cos = cat([angles, angles], 1).cos();
        var sin = cat([angles, angles], 1).sin();
        Tensor Rope(Tensor x) => x * cos + cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1) * sin; // x: [T, hd]
        var mask = ones(t, t, dtype: ScalarType.Bool).tril();

        var x = w["embed.weight"].index_select(0, tokens.flatten()).view(b, t, c.Dim);
        for (int layer = 0; layer < c.Layers; layer++)
        {
            string p = $"blocks.{layer}";
            var h = Norm(x, w[$"{p}.attn_norm.weight"]);
            var qkv = h.matmul(w[$"{p}.attn.qkv.weight"].t());                 // [B, T, 3d], q | k | v
            var outputs = new List<Tensor>();
            for (int row = 0; row < b; row++)
            {
                var heads = new List<Tensor>();
                for (int head = 0; head < c.Heads; head++)
                {
                    var q = Rope(qkv[row].narrow(1, head * hd, hd));
                    var k = Rope(qkv[row].narrow(1, c.Dim + head * hd, hd));
                    var v = qkv[row].narrow(1, 2 * c.Dim + head * hd, hd);
                    var scores = q.matmul(k.t()) / Math.Sqrt(hd);
                    scores = scores.masked_fill(mask.logical_not(), double.NegativeInfinity);
                    heads.Add(F.softmax(scores, 1).matmul(v));                      // [T, hd]
                }
                outputs.Add(cat(heads, 1));
            }
            x = x + stack(outputs).matmul(w[$"{p}.attn.proj.weight"].t());
            var m = Norm(x, w[$"{p}.mlp_norm.weight"]);
            var gate = m.matmul(w[$"{p}.mlp.gate.weight"].t());
            var up = m.matmul(w[$"{p}.mlp.up.weight"].t());
            x = x + (gate * gate.sigmoid() * up).matmul(w[$"{p}.mlp.down.weight"].t());
        }
        x = Norm(x, w["norm.weight"]);
        return x.matmul((c.TieEmbeddings ? w["embed.weight"] : w["lm_head.weight"]).t());
    }
}
