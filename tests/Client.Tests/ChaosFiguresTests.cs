using GrowLength.Client.Chaos;

namespace GrowLength.Client.Tests;

/// <summary>The figures a chaos report is made of: kill statistics over hand-made actions, the silo port in an Orleans
/// silo address, and resident memory from /proc.</summary>
public sealed class ChaosFiguresTests
{
    private static ChaosActionRecord Action(int number, ChaosActionKind kind, double? toNext, double? detection, long? retrained, string? skipped = null) =>
        new(number, kind, $"action {number}", 1, 30001, 100 + number, [1], DateTime.UnixEpoch, number * 10, number * 5,
            SecondsToNextStep: toNext, DetectionSeconds: detection, TokensRetrained: retrained, Skipped: skipped);

    [Fact]
    public void KillStatisticsCountOnlyKillsCarriedOut()
    {
        ChaosActionRecord[] actions =
        [
            Action(1, ChaosActionKind.Kill, 4.0, 1.5, 0),
            Action(2, ChaosActionKind.Join, 0.2, null, null),
            Action(3, ChaosActionKind.Kill, 10.0, 3.5, 2048),
            Action(4, ChaosActionKind.Leave, 30.0, 0.1, 0),
            Action(5, ChaosActionKind.Kill, 6.0, 2.0, 0),
            Action(6, ChaosActionKind.Kill, null, null, null, skipped: "rank 0 is on the primary"),
            Action(7, ChaosActionKind.Kill, null, 9.0, null), // the run never completed a step after it
        ];
        var stats = KillStatistics.Of(actions);
        Assert.Equal(4, stats.Kills);
        Assert.Equal(3, stats.Survived);
        Assert.Equal(6.0, stats.MedianSecondsToNextStep);
        Assert.Equal(10.0, stats.WorstSecondsToNextStep);
        Assert.Equal(2.75, stats.MedianDetectionSeconds); // 1.5, 2.0, 3.5, 9.0
        Assert.Equal(9.0, stats.WorstDetectionSeconds);
        Assert.Equal([0L, 2048L, 0L, null], stats.TokensRetrainedPerKill);
    }

    [Fact]
    public void NoKillsGiveNoFigures()
    {
        var stats = KillStatistics.Of([Action(1, ChaosActionKind.Join, 1, null, null)]);
        Assert.Equal((0, 0), (stats.Kills, stats.Survived));
        Assert.Null(stats.MedianSecondsToNextStep);
        Assert.Null(stats.WorstSecondsToNextStep);
        Assert.Null(stats.MedianDetectionSeconds);
        Assert.Null(stats.WorstDetectionSeconds);
        Assert.Empty(stats.TokensRetrainedPerKill);
    }

    [Theory]
    [InlineData(new[] { 3.0 }, 3.0)]
    [InlineData(new[] { 5.0, 1.0, 3.0 }, 3.0)]
    [InlineData(new[] { 4.0, 1.0, 3.0, 2.0 }, 2.5)]
    public void TheMedianIsTheMiddle(double[] values, double median)
    {
        Assert.Equal(median, KillStatistics.Median(values));
        Assert.Equal(values.Max(), KillStatistics.Worst(values));
    }

    [Theory]
    [InlineData("S127.0.0.1:11111:123456789", 11111)]
    [InlineData("127.0.0.1:30001@123456789", 30001)]
    [InlineData("S[::1]:11112:42", 11112)]
    [InlineData("S10.0.0.7:45678:0", 45678)]
    [InlineData("not a silo", null)]
    [InlineData("", null)]
    public void TheSiloPortIsReadFromAnAddress(string silo, int? port) => Assert.Equal(port, SiloAddressText.Port(silo));

    [Fact]
    public void ResidentMemoryIsReadFromProcStatus()
    {
        Assert.Equal(123456L * 1024, ResidentMemory.Parse("Name:\tdotnet\nVmPeak:\t  999999 kB\nVmRSS:\t  123456 kB\nThreads:\t40\n"));
        Assert.Null(ResidentMemory.Parse("Name:\tkthreadd\nThreads:\t1\n"));
        if (OperatingSystem.IsLinux()) Assert.True(ResidentMemory.Of(Environment.ProcessId) > 1 << 20);
        Assert.Null(ResidentMemory.Of(int.MaxValue));
    }
}
