using GrowLength.Training.Engine;
using GrowLength.Training.Model;
using GrowLength.Training.Optim;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;
using TorchAdamW = TorchSharp.Modules.AdamW;

namespace GrowLength.Training.Tests.Optim;

/// <summary>Our AdamW (one flat buffer, a decay mask, one global clip) held to TorchSharp's own <c>torch.optim.AdamW</c>
/// with two parameter groups and <c>torch.nn.utils.clip_grad_norm_</c>, fed the same gradients step by step.</summary>
public sealed class AdamWReferenceTests(ITestOutputHelper output)
{
    private const double MaxNorm = 1.0;

    // The tolerance, in float32 roundings (unit roundoff u = 2^-24, half an ulp). Both sides compute the same update in
    // a different order, so after each step they may part by a few roundings and no more. Of |p|: the reference
    // multiplies p by 1 - lr·wd rounded to float32 (one rounding of the factor, one of the product) where ours subtracts
    // lr·wd·p (one), and each side rounds p + update (one each): five. Of the update, at most 1.2·lr for these betas
    // (Cauchy-Schwarz on m̂/√v̂): the clip scale from differently summed norms, the bias corrections as float32 scalars,
    // √(v/b2) against √v/√b2, the quotient: no more than sixteen. Both add up over the steps, the first over the |p| each
    // step had. Measured here: four roundings of |p| after the first step. A wrong decay set (lr·wd = 3e-4 of |p| a step)
    // or a missed clip shows hundreds to hundreds of thousands of times larger.
    private const double UnitRoundoff = 1.0 / (1 << 24);
    private const double RoundingsOfP = 5;
    private const double RoundingsOfLr = 16;

    // OptimizerConfig's defaults: a weight decay large enough that decaying the wrong parameters shows at once.
    private static readonly AdamWSettings Settings = new(Beta1: 0.9, Beta2: 0.95, Epsilon: 1e-8, WeightDecay: 0.1);

    // Per step: the learning rate, and the gradient's global L2 norm before clipping (above MaxNorm: clipping scales it).
    private static readonly (double Lr, double Norm)[] Steps =
        [(1e-3, 0.5), (3e-3, 4.0), (2e-3, 0.9), (5e-4, 25.0), (2.5e-3, 0.05), (1.5e-3, 1.5), (3e-4, 0.3)];

    [Fact]
    public void EveryStepMatchesTorchOptimAdamWWithADecayAndANoDecayGroup()
    {
        using var engine = new StepEngine(ModelPresets.Tiny() with { VocabSize = 257 }, seed: 3);
        var ours = engine.Parameters.Named.ToList();
        var reference = ours.Select(p => new Parameter(p.Value.detach().clone(), requires_grad: true)).ToList();
        // Which parameters decay is the recipe's (GPT-2, Llama): matrices (embeddings, projections) do, vectors (norm
        // gains) do not. Stated here from the shapes, not read from FlatParameters.DecayMask, so the mask is tested too.
        var decay = reference.Where(p => p.dim() >= 2).ToList();
        var noDecay = reference.Where(p => p.dim() < 2).ToList();
        Assert.NotEmpty(decay);
        Assert.NotEmpty(noDecay);
        TorchAdamW.ParamGroup Group(List<Parameter> parameters, double weightDecay) => new(
            parameters, lr: Steps[0].Lr, beta1: Settings.Beta1, beta2: Settings.Beta2, eps: Settings.Epsilon, weight_decay: weightDecay);
        using var optimizer = optim.AdamW([Group(decay, Settings.WeightDecay), Group(noDecay, 0)]);
        var initial = ours.Select(p => p.Value.detach().clone()).ToList();
        // Σ over the steps so far of each element's |p|, for the tolerance.
        var magnitudes = reference.Select(p => zeros_like(p).detach()).ToList();
        var generator = new Generator(seed: 11);
        double lrSum = 0;

        for (int step = 0; step < Steps.Length; step++)
        {
            using var scope = NewDisposeScope();
            var (lr, norm) = Steps[step];
            lrSum += lr;
            // A fresh gradient every step, its elements spread over four orders of magnitude (as real gradients are,
            // between embeddings, projections and gains), scaled to the step's global norm.
            var count = engine.Parameters.Count;
            var gradient = randn(count, generator: generator) * pow(10, rand(count, generator: generator) * 4 - 3);
            gradient.mul_(norm / gradient.norm().item<float>());

            engine.Parameters.Gradients.copy_(gradient);
            var ourNorm = engine.ApplyUpdate(lr, MaxNorm, Settings);

            long offset = 0;
            foreach (var p in reference)
            {
                p.grad = gradient.narrow(0, offset, p.numel()).view(p.shape).clone();
                offset += p.numel();
            }
            var referenceNorm = nn.utils.clip_grad_norm_(reference, MaxNorm);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
            optimizer.step();

            Assert.Equal(norm, ourNorm, norm * 1e-5);
            Assert.Equal(referenceNorm, ourNorm, norm * 1e-5);
            double worst = 0;
            for (int i = 0; i < ours.Count; i++)
            {
                var a = ours[i].Value;
                var b = reference[i].detach();
                var error = (a - b).abs();
                magnitudes[i].add_(b.abs());
                var allowed = magnitudes[i] * (RoundingsOfP * UnitRoundoff) + lrSum * (RoundingsOfLr * UnitRoundoff);
                var ratio = (error / allowed).max().item<float>();
                worst = Math.Max(worst, ratio);
                Assert.True(ratio <= 1, $"step {step + 1} (lr {lr}, norm {norm}): {ours[i].Name} differs from torch.optim.AdamW by up to " +
                    $"{error.max().item<float>():E2}, {ratio:F1} times the tolerance");
            }
            output.WriteLine($"step {step + 1}: lr {lr}, norm {norm}{(norm > MaxNorm ? " (clipped)" : "")}, worst error {worst:F3} of the tolerance");
        }

        // Both really trained: every parameter moved by far more than the tolerance.
        for (int i = 0; i < ours.Count; i++)
        {
            var moved = (ours[i].Value - initial[i]).abs().max().item<float>();
            Assert.True(moved > 1e3 * lrSum * RoundingsOfLr * UnitRoundoff, $"{ours[i].Name} moved only {moved:E2}");
        }
    }
}
