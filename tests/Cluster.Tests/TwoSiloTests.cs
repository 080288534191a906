using GrowLength.Grains;

namespace GrowLength.Cluster.Tests;

/// <summary>Two silos with one device slot each: the two workers land on different silos and their gradients cross
/// silo-to-silo messages; the run still matches one worker and the workers stay identical.</summary>
public sealed class TwoSiloTests(TwoSiloCluster fixture) : IClassFixture<TwoSiloCluster>
{
    [Fact]
    public async Task TwoWorkersOnTwoSilosTrainLikeOne()
    {
        var (trainer, steps, _) = fixture.TrainBare();
        using var _ = trainer;
        var status = await fixture.RunToEnd("two-silos", 2);
        ClusterFixture.AssertCompleted(status);
        Assert.Equal(2, status.Workers.Select(w => w.Silo).Distinct().Count());

        var records = await fixture.Grains.GetGrain<IScheduleCoordinatorGrain>("two-silos").Steps(0);
        Assert.Equal(24, records.Length);
        Assert.All(records, r => Assert.True(r.Checksums[0] == r.Checksums[1], $"step {r.Step}: workers' parameters differ"));
        foreach (var (bare, cluster) in steps.Zip(records))
            Assert.True(Math.Abs(bare.Loss - cluster.Loss) <= 5e-5 * Math.Abs(bare.Loss), $"step {bare.Step}: loss {cluster.Loss} on 2 silos, {bare.Loss} bare");
        var weights = await Compare.MaxWeightDifference(fixture.Grains, "two-silos", trainer);
        Assert.True(weights <= 5e-5, $"largest weight difference {weights:E2}");
    }
}
