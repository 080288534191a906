using GrowLength.Training.Schedules;

namespace GrowLength.Training.Tests.Schedules;

public sealed class BatchPlanTests
{
    [Theory]
    [InlineData(128, 65536L, 16384L, 512, 128, 65536L)]
    [InlineData(2048, 65536L, 16384L, 32, 8, 65536L)]
    [InlineData(1000, 65536L, 16384L, 65, 16, 65000L)]
    [InlineData(3000, 65536L, 2000L, 21, 1, 63000L)]
    [InlineData(4096, 2048L, 2048L, 1, 1, 4096L)]
    [InlineData(128, 1024L, 65536L, 8, 8, 1024L)]
    public void RowsAndMicroBatchSize(int length, long global, long micro, int rows, int perMicro, long tokens)
    {
        var plan = BatchPlan.For(length, global, micro);
        Assert.Equal((rows, perMicro, tokens), (plan.Rows, plan.RowsPerMicroBatch, plan.Tokens));
    }

    [Theory]
    [InlineData(1000, 4, 0, new[] { 16, 1 })]
    [InlineData(1000, 4, 1, new[] { 16 })]
    [InlineData(1000, 4, 3, new[] { 16 })]
    [InlineData(128, 1, 0, new[] { 128, 128, 128, 128 })]
    [InlineData(128, 3, 2, new[] { 128, 42 })]
    [InlineData(32768, 3, 1, new[] { 1 })]
    [InlineData(32768, 3, 2, new int[0])]
    public void MicroBatchesOfOneRank(int length, int world, int rank, int[] expected) =>
        Assert.Equal(expected, BatchPlan.For(length, 65536, 16384).MicroBatchesForRank(rank, world));

    [Theory]
    [InlineData(128, 1)]
    [InlineData(128, 3)]
    [InlineData(1000, 4)]
    [InlineData(1000, 7)]
    [InlineData(2048, 5)]
    [InlineData(32768, 3)]
    [InlineData(3000, 8)]
    public void RanksSplitEveryRowExactlyOnce(int length, int world)
    {
        var plan = BatchPlan.For(length, 65536, 16384);
        var all = new List<int>();
        for (var rank = 0; rank < world; rank++)
        {
            var indices = plan.RowIndicesForRank(rank, world);
            Assert.Equal(plan.RowsForRank(rank, world), indices.Count);
            Assert.All(indices, i => Assert.Equal(rank, i % world));
            var micro = plan.MicroBatchesForRank(rank, world);
            Assert.Equal(indices.Count, micro.Sum());
            Assert.All(micro, m => Assert.InRange(m, 1, plan.RowsPerMicroBatch));
            all.AddRange(indices);
        }

        Assert.Equal(Enumerable.Range(0, plan.Rows), all.Order());
    }

    [Theory]
    [InlineData(-1, 2)]
    [InlineData(2, 2)]
    [InlineData(0, 0)]
    public void BadRankIsRefused(int rank, int world) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => BatchPlan.For(128, 1024, 1024).RowsForRank(rank, world));
}
