using GrowLength.Training.Model;
using static TorchSharp.torch;

namespace GrowLength.Training.Tests.Model;

/// <summary>RmsNorm, written for speed, against the textbook formula.</summary>
public sealed class RmsNormTests
{
    [Fact]
    public void MatchesTheTextbookFormulaInValueAndGradient()
    {
        using var scope = NewDisposeScope();
        const int dim = 48;
        const double eps = 1e-5;
        using var norm = new RmsNorm("norm", dim, eps);
        using (no_grad()) norm.parameters().First().copy_(rand(dim) + 0.5);
        var weight = norm.parameters().First().detach().to(ScalarType.Float64);
        var x = (randn([3, 5, dim]) * 3).requires_grad_();
        var x64 = x.detach().to(ScalarType.Float64).requires_grad_();

        var y = norm.forward(x);
        var expected = x64 / (x64.square().mean([-1], keepdim: true) + eps).sqrt() * weight;
        Assert.True(y.to(ScalarType.Float64).allclose(expected, rtol: 1e-5, atol: 1e-6));

        var upstream = randn([3, 5, dim]);
        (y * upstream).sum().backward();
        (expected * upstream.to(ScalarType.Float64)).sum().backward();
        Assert.True(x.grad!.to(ScalarType.Float64).allclose(x64.grad!, rtol: 1e-4, atol: 1e-5));
    }
}
