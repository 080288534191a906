using GrowLength.Grains;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using static TorchSharp.torch;

namespace GrowLength.Cluster.Tests;

/// <summary>Comparisons of a cluster run's final checkpoint with a bare Trainer's parameters.</summary>
internal static class Compare
{
    /// <summary>The largest absolute difference between the checkpoint's weights and the trainer's (0 means bitwise equal).</summary>
    public static async Task<double> MaxWeightDifference(IGrainFactory grains, string runId, Trainer trainer)
    {
        var latest = await grains.GetGrain<ICheckpointGrain>(runId).Latest();
        Assert.NotNull(latest);
        using var scope = NewDisposeScope();
        var (weights, _) = SafeTensors.Read(Path.Combine(latest.Folder, TrainingCheckpoint.ModelPart));
        double worst = 0;
        foreach (var (name, value) in trainer.Engine.Parameters.Named)
        {
            Assert.True(weights.TryGetValue(name, out var saved), $"checkpoint lacks {name}");
            worst = Math.Max(worst, (saved - value).abs().max().item<float>());
        }
        return worst;
    }
}
