using System.Diagnostics;
using GrowLength.Training.Model;
using GrowLength.Training.Schedules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace GrowLength.Training.Bench;

/// <summary>Where a training step's time goes at one length: its dense matmuls and its attention, each timed alone
/// with the step's exact shapes, and what is left of the measured step for everything else.</summary>
/// <param name="DenseMatmulSeconds">the forward, input-gradient and weight-gradient matmuls of every weight matrix
/// (<see cref="ModelConfig.MatmulShapes"/>) for all the step's micro-batches.</param>
/// <param name="AttentionSeconds">scaled_dot_product_attention forward and backward, every layer, every micro-batch.</param>
/// <param name="OtherSeconds">the measured step minus both: norms, RoPE, SwiGLU gating, residual adds, the loss,
/// layout copies, the optimizer.</param>
/// <param name="MfuCeiling">the MFU the step would reach if everything in <paramref name="OtherSeconds"/> cost nothing.</param>
public sealed record StepCostBreakdown(double DenseMatmulSeconds, double AttentionSeconds, double OtherSeconds, double MfuCeiling);

/// <summary>Times a step's dense matmuls and attention alone (see <see cref="StepCostBreakdown"/>).</summary>
/// <remarks>Each part is the fastest of several repeats, so the ceiling it gives is an optimistic one: a target above
/// it cannot be reached by tuning anything outside the matmuls and the attention kernel.</remarks>
public static class StepCostProbe
{
    /// <summary>Seconds of (dense matmuls, attention) for one step of <paramref name="plan"/> on one worker, each part
    /// the fastest of <paramref name="repeats"/>.</summary>
    public static (double DenseMatmulSeconds, double AttentionSeconds) Measure(ModelConfig config, BatchPlan plan, Device device, int repeats = 3)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        // The model's matmuls and attention run in bf16 on CUDA and fp32 on the CPU (see Precision in Transformer.cs).
        var dtype = device.type == TorchSharp.DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32;
        var batches = plan.MicroBatchesForRank(0, 1);
        double dense = 0, attention = 0;
        foreach (var batchRows in batches.Distinct())
        {
            int count = batches.Count(b => b == batchRows);
            dense += count * Fastest(repeats, device, () => DenseMatmuls(config, (long)batchRows * plan.Length, dtype, device));
            attention += count * Fastest(repeats, device, () => Attention(config, batchRows, plan.Length, dtype, device));
        }
        return (dense, attention);
    }

    private static double Fastest(int repeats, Device device, Func<Action> prepare)
    {
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            using var scope = NewDisposeScope();
            var run = prepare();
            MatmulRate.Synchronize(device);
            var clock = Stopwatch.StartNew();
            run();
            MatmulRate.Synchronize(device);
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return best;
    }

    // Inputs are made before the clock starts; the returned action is what is timed. Layouts as F.linear and its
    // backward use them: y = x·Wᵀ, dx = dy·W, dW = dyᵀ·x.
    private static Action DenseMatmuls(ModelConfig config, long tokens, ScalarType dtype, Device device)
    {
        var operands = config.MatmulShapes.Select(s => (
            X: randn(tokens, s.In, dtype: dtype, device: device),
            W: randn(s.Out, s.In, dtype: dtype, device: device),
            Dy: randn(tokens, s.Out, dtype: dtype, device: device))).ToArray();
        return () =>
        {
            foreach (var (x, w, dy) in operands)
            {
                using var y = mm(x, w.t());
                using var dx = mm(dy, w);
                using var dw = mm(dy.t(), x);
            }
        };
    }

    private static Action Attention(ModelConfig config, int rows, int length, ScalarType dtype, Device device)
    {
        var inputs = Enumerable.Range(0, config.Layers).Select(_ =>
        {
            var qkv = randn([3, rows, config.Heads, length, config.HeadDim], dtype: dtype, device: device).requires_grad_(true);
            return (Qkv: qkv, Dy: randn([rows, config.Heads, length, config.HeadDim], dtype: dtype, device: device));
        }).ToArray();
        return () =>
        {
            foreach (var (qkv, dy) in inputs)
            {
                using var scope = NewDisposeScope();
                var y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_casual: true);
                y.backward([dy]);
            }
        };
    }
}
