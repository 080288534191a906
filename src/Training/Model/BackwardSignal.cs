using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace GrowLength.Training.Model;

/// <summary>An identity in the forward pass whose backward calls a callback: put at a block's input, it fires once autograd
/// has computed the gradient of that input, which is after every node of the block (and so every gradient of its
/// parameters) ran.</summary>
/// <remarks>
/// libtorch's engine runs the ready node with the highest sequence number first; every node of the block was recorded
/// after this one, so all of them that lead here run before it. That is what lets the gradient exchange start on a block's
/// gradients while the backward pass goes on to the blocks before it (PyTorch DDP gets the same moment from gradient
/// hooks, which TorchSharp 0.107 does not expose). The callback runs on the thread that called backward.
/// </remarks>
internal sealed class BackwardSignal : SingleTensorFunction<BackwardSignal>
{
    private const string Callback = "callback";

    public override string Name => nameof(BackwardSignal);

    /// <summary>vars: the tensor, then the <see cref="Action"/> to call in its backward.</summary>
    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        ctx.save_data(Callback, vars[1]);
        return ((Tensor)vars[0]).alias();
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor grad_output)
    {
        ((Action)ctx.get_data(Callback)).Invoke();
        // One gradient per argument: the tensor's passes through, the callback has none.
        return [grad_output, null!];
    }

    /// <summary><paramref name="x"/> unchanged; <paramref name="reached"/> runs when backward reaches it.</summary>
    public static Tensor At(Tensor x, Action reached) => apply(x, reached);
}
