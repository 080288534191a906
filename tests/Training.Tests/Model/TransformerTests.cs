using GrowLength.Training.Model;
using GrowLength.Training.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace GrowLength.Training.Tests.Model;

/// <summary>The model's forward pass: causality, determinism, shapes, parameter count, flat gradients.</summary>
public sealed class TransformerTests
{
    private static ModelConfig Tiny => ModelPresets.Tiny() with { VocabSize = 50 };

    [Fact]
    public void ChangingAFutureTokenChangesNoEarlierOutput()
    {
        using var model = new GrowLengthTransformer(Tiny, seed: 1);
        model.PrepareLength(16);
        using var scope = NewDisposeScope();
        var tokens = randint(0, 50, [2, 16], generator: new Generator(7, CPU));
        var changed = tokens.clone();
        const int j = 9;
        changed[TensorIndex.Colon, j] = (tokens[TensorIndex.Colon, j] + 1) % 50;
        using var noGrad = no_grad();
        var a = model.forward(tokens);
        var b = model.forward(changed);
        // Positions before j must be bitwise identical; position j itself must differ (the test can fail both ways).
        Assert.True(a.narrow(1, 0, j).equal(b.narrow(1, 0, j)).all().item<bool>(), "a future token leaked into an earlier position");
        Assert.False(a.narrow(1, j, 1).allclose(b.narrow(1, j, 1)), "changing token j did not change output j");
    }

    [Fact]
    public void SameSeedGivesSameParametersAndDifferentSeedDoesNot()
    {
        using var a = new GrowLengthTransformer(Tiny, seed: 3);
        using var b = new GrowLengthTransformer(Tiny, seed: 3);
        using var c = new GrowLengthTransformer(Tiny, seed: 4);
        var pa = a.parameters().ToList();
        var pb = b.parameters().ToList();
        var pc = c.parameters().ToList();
        Assert.All(pa.Zip(pb), pair => Assert.True(pair.First.equal(pair.Second).all().item<bool>()));
        Assert.Contains(pa.Zip(pc), pair => !pair.First.equal(pair.Second).all().item<bool>());
    }

    [Fact]
    public void ParameterCountMatchesTheModule()
    {
        foreach (var config in new[] { Tiny, Tiny with { TieEmbeddings = false }, ModelPresets.CpuDemo() with { VocabSize = 257 } })
        {
            using var model = new GrowLengthTransformer(config, seed: 1);
            Assert.Equal(model.parameters().Sum(p => p.numel()), config.ParameterCount);
        }
    }

    [Fact]
    public void MatmulShapesAreTheModelsWeightMatricesAndTheDenseFlopCount()
    {
        foreach (var config in new[] { Tiny, Tiny with { TieEmbeddings = false }, ModelPresets.CpuDemo() with { VocabSize = 257 } })
        {
            using var model = new GrowLengthTransformer(config, seed: 1);
            // Every 2-D weight a token is multiplied by: all of them but the embedding lookup, which is the LM head when tied.
            var weights = model.named_parameters()
                .Where(p => p.parameter.dim() == 2 && (p.name != "embed.weight" || config.TieEmbeddings))
                .Select(p => ((int)p.parameter.shape[1], (int)p.parameter.shape[0]))
                .Order().ToList();
            Assert.Equal(weights, config.MatmulShapes.Order().ToList());
            const int length = 64;
            long dense = config.MatmulShapes.Sum(m => (long)m.In * m.Out);
            Assert.Equal(6.0 * dense + 6.0 * config.Layers * config.Dim * length, config.TrainingFlopsPerToken(length));
        }
    }

    [Fact]
    public void LogitsHaveBatchLengthVocabShape()
    {
        using var model = new GrowLengthTransformer(Tiny, seed: 1);
        model.PrepareLength(12);
        using var scope = NewDisposeScope();
        var logits = model.forward(zeros([3, 12], ScalarType.Int64));
        Assert.Equal(new long[] { 3, 12, 50 }, logits.shape);
    }

    [Fact]
    public void GradientsAccumulateIntoTheFlatBuffer()
    {
        using var model = new GrowLengthTransformer(Tiny, seed: 1);
        using var flat = new FlatParameters(model);
        model.PrepareLength(8);
        for (int pass = 0; pass < 2; pass++)
        {
            using var scope = NewDisposeScope();
            var tokens = randint(0, 50, [2, 8], generator: new Generator((ulong)pass, CPU));
            model.LossSum(tokens, tokens).backward();
        }
        Assert.True(flat.Gradients.abs().sum().item<float>() > 0);
        Assert.True(flat.GradientsAreViews());
    }

    [Fact]
    public void InitialLossIsCloseToUniformGuessing()
    {
        using var model = new GrowLengthTransformer(Tiny, seed: 1);
        model.PrepareLength(32);
        using var scope = NewDisposeScope();
        var gen = new Generator(2, CPU);
        var tokens = randint(0, 50, [4, 32], generator: gen);
        var targets = randint(0, 50, [4, 32], generator: gen);
        using var noGrad = no_grad();
        var meanLoss = model.LossSum(tokens, targets).item<float>() / (4 * 32);
        Assert.InRange(meanLoss, Math.Log(50) - 0.3, Math.Log(50) + 0.3);
    }
}
