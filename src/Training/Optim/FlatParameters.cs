using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GrowLength.Training.Optim;

/// <summary>A model's parameters and gradients laid out in two contiguous fp32 buffers.</summary>
/// <remarks>
/// Each parameter becomes a view into <see cref="Values"/> and its gradient a view into <see cref="Gradients"/>;
/// autograd accumulates into an existing gradient in place, so after backward the whole gradient sits in one
/// buffer. That buffer is what the gradient exchange sends and what AdamW updates with a handful of fused ops.
/// </remarks>
public sealed class FlatParameters : IDisposable
{
    private readonly List<(string Name, Parameter Parameter, long Offset)> entries = [];

    public FlatParameters(nn.Module module)
    {
        var named = module.named_parameters().ToList();
        var device = named[0].parameter.device;
        long total = named.Sum(p => p.parameter.numel());
        Values = zeros(total, ScalarType.Float32, device);
        Gradients = zeros(total, ScalarType.Float32, device);
        DecayMask = zeros(total, ScalarType.Float32, device);
        long offset = 0;
        using (no_grad())
        {
            foreach (var (name, p) in named)
            {
                var n = p.numel();
                var values = Values.narrow(0, offset, n).view(p.shape);
                values.copy_(p);
                p.set_(values);
                p.grad = Gradients.narrow(0, offset, n).view(p.shape);
                // Decoupled weight decay on matrices only; norm gains (1-D) are not decayed (as in GPT-2/Llama recipes).
                if (p.dim() >= 2) DecayMask.narrow(0, offset, n).fill_(1);
                entries.Add((name, p, offset));
                offset += n;
            }
        }
        Count = total;
    }

    /// <summary>All parameter values, fp32, in named_parameters order.</summary>
    public Tensor Values { get; }

    /// <summary>All gradients, fp32, same layout as <see cref="Values"/>.</summary>
    public Tensor Gradients { get; }

    /// <summary>1 where decoupled weight decay applies, 0 elsewhere.</summary>
    public Tensor DecayMask { get; }

    /// <summary>Number of scalars.</summary>
    public long Count { get; }

    /// <summary>Parameter names with their offsets and shapes, in buffer order.</summary>
    public IEnumerable<(string Name, long Offset, long[] Shape)> Layout => entries.Select(e => (e.Name, e.Offset, e.Parameter.shape));

    /// <summary>Each parameter by its checkpoint name (views into <see cref="Values"/>).</summary>
    public IEnumerable<(string Name, Tensor Value)> Named => entries.Select(e => (e.Name, (Tensor)e.Parameter));

    /// <summary>Clears the gradient buffer before the next step's backward passes.</summary>
    public void ZeroGradients() => Gradients.zero_();

    /// <summary>True when every parameter's gradient matches its slice of <see cref="Gradients"/>, i.e. autograd
    /// accumulated in place instead of replacing the view with a tensor of its own.</summary>
    public bool GradientsAreViews()
    {
        using var scope = NewDisposeScope();
        return entries.All(e => e.Parameter.grad is { } g
            && Gradients.narrow(0, e.Offset, e.Parameter.numel()).view(e.Parameter.shape).equal(g).all().item<bool>());
    }

    public void Dispose()
    {
        Values.Dispose();
        Gradients.Dispose();
        DecayMask.Dispose();
    }
}
