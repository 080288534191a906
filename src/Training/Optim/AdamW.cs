using TorchSharp;
using static TorchSharp.torch;

namespace GrowLength.Training.Optim;

/// <summary>Hyper-parameters of one AdamW update.</summary>
public readonly record struct AdamWSettings(double Beta1, double Beta2, double Epsilon, double WeightDecay);

/// <summary>AdamW (Loshchilov and Hutter 2019) over a <see cref="FlatParameters"/> buffer, with state that checkpoints exactly.</summary>
/// <remarks>Ours rather than torch.optim's so its whole state is three tensors and a step count that a checkpoint
/// saves and restores bitwise, and so one update is a few fused ops over the flat buffer.</remarks>
public sealed class AdamW : IDisposable
{
    private readonly FlatParameters parameters;

    public AdamW(FlatParameters parameters)
    {
        this.parameters = parameters;
        FirstMoment = zeros_like(parameters.Values);
        SecondMoment = zeros_like(parameters.Values);
    }

    /// <summary>Exponential average of gradients (m).</summary>
    public Tensor FirstMoment { get; }

    /// <summary>Exponential average of squared gradients (v).</summary>
    public Tensor SecondMoment { get; }

    /// <summary>Updates taken so far (t in the bias corrections).</summary>
    public long StepCount { get; set; }

    /// <summary>Applies one update with learning rate <paramref name="lr"/> using the current gradient buffer.</summary>
    public void Step(double lr, AdamWSettings settings)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        StepCount++;
        var g = parameters.Gradients;
        var p = parameters.Values;
        double bias1 = 1 - Math.Pow(settings.Beta1, StepCount);
        double bias2 = 1 - Math.Pow(settings.Beta2, StepCount);
        // Every scalar is held until the update is done: a Scalar made implicitly for a call is unreachable during that
        // native call, and a GC then finalizes (frees) it under libtorch ("Unknown scalar type", seen in a long run).
        using Scalar beta1 = settings.Beta1, rest1 = 1 - settings.Beta1, beta2 = settings.Beta2, rest2 = 1 - settings.Beta2,
            decay = -lr * settings.WeightDecay, correction2 = bias2, epsilon = settings.Epsilon, step = -lr / bias1;
        FirstMoment.mul_(beta1).add_(g, alpha: rest1);
        SecondMoment.mul_(beta2).addcmul_(g, g, value: rest2);
        // Decoupled decay: p ← p − lr·wd·p where the mask is 1.
        if (settings.WeightDecay != 0) p.addcmul_(p, parameters.DecayMask, value: decay);
        var denominator = (SecondMoment / correction2).sqrt_().add_(epsilon);
        p.addcdiv_(FirstMoment, denominator, value: step);
    }

    /// <summary>Scales gradients so their global L2 norm is at most <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public double ClipGradients(double maxNorm)
    {
        using var scope = NewDisposeScope();
        var norm = parameters.Gradients.norm().item<float>();
        if (maxNorm > 0 && norm > maxNorm)
        {
            using Scalar factor = maxNorm / (norm + 1e-6); // held through the native call (see Step)
            parameters.Gradients.mul_(factor);
        }
        return norm;
    }

    public void Dispose()
    {
        FirstMoment.Dispose();
        SecondMoment.Dispose();
    }
}
