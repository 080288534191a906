using GrowLength.Training.Bench;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Model;
using static TorchSharp.torch;

namespace GrowLength.Training.Tests.Bench;

/// <summary>The checkpoint pause benchmark takes both kinds of checkpoint each round, of the same state's size, and keeps
/// only the last of each.</summary>
public sealed class CheckpointPauseBenchmarkTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void EveryRoundTakesASynchronousAndAnAsynchronousCheckpointOfTheSameState()
    {
        var settings = new CheckpointPauseSettings(ModelPresets.Tiny() with { VocabSize = 50 }, Length: 16, StepTokens: 256, MicroBatchTokens: 128,
            Rounds: 3, Folder: temp.Path, QuietSteps: 1, WarmupSteps: 1);
        var seen = new List<CheckpointPauseRound>();
        var report = CheckpointPauseBenchmark.Run(settings, CPU, onRound: seen.Add);

        Assert.Equal([1, 2, 3], report.Rounds.Select(r => r.Round));
        Assert.Equal(report.Rounds, seen);
        Assert.All(report.Rounds, r =>
        {
            Assert.True(r.SyncPauseSeconds > 0 && r.AsyncPauseSeconds > 0 && r.WriteSeconds > 0, r.ToString());
            Assert.True(double.IsNaN(r.StepSecondsDuringWrite) == (r.StepsDuringWrite == 0), r.ToString());
        });
        Assert.True(report.StepSeconds > 0);
        Assert.Equal(report.SyncPauseSeconds / report.StepSeconds, report.SyncPauseFraction, 12);
        // Each store keeps its last checkpoint only; both hold the same parts, and the tensors' the same sizes (the JSON
        // of the training state differs: the two are taken at different steps).
        var sync = new CheckpointStore(temp.Combine("sync"), 1).List();
        var async = new CheckpointStore(temp.Combine("async"), 1).List();
        Assert.Single(sync);
        Assert.Single(async);
        Assert.Equal(report.CheckpointBytes, sync[0].Parts.Sum(p => p.Bytes));
        Assert.Equal(sync[0].Parts.Select(p => p.Name), async[0].Parts.Select(p => p.Name));
        Assert.Equal(sync[0].Parts.Where(p => p.Name.EndsWith(".safetensors")).Select(p => p.Bytes),
            async[0].Parts.Where(p => p.Name.EndsWith(".safetensors")).Select(p => p.Bytes));
    }
}
