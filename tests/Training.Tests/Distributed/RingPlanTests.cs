using GrowLength.Training.Distributed;

namespace GrowLength.Training.Tests.Distributed;

/// <summary>The ring all-reduce layout, simulated in memory: every rank ends with the exact same sum.</summary>
public sealed class RingPlanTests
{
    [Theory]
    [InlineData(2, 10, 3)]
    [InlineData(3, 1000, 64)]
    [InlineData(4, 1001, 100)]
    [InlineData(5, 3, 1)] // fewer elements than ranks: some segments are empty
    public void SimulatedRingSumsEveryElementAndLeavesAllRanksBitwiseEqual(int world, int count, int chunk)
    {
        var plan = new RingPlan(count, world, chunk);
        var random = new Random(world * 7919 + count);
        var buffers = Enumerable.Range(0, world).Select(_ => Enumerable.Range(0, count).Select(_ => (float)random.NextDouble() - 0.5f).ToArray()).ToArray();
        var expected = new double[count];
        foreach (var b in buffers) for (int i = 0; i < count; i++) expected[i] += b[i];

        for (int round = 0; round < plan.Rounds; round++)
        {
            // Everyone sends this round's segment from its buffer as it stands, then everyone applies what arrived.
            var sent = Enumerable.Range(0, world).Select(rank =>
            {
                var (start, length) = plan.Segment(plan.SendSegment(rank, round));
                return buffers[rank].AsSpan((int)start, (int)length).ToArray();
            }).ToArray();
            for (int rank = 0; rank < world; rank++)
            {
                int segment = plan.ReceiveSegment(rank, round);
                var left = (rank - 1 + world) % world;
                Assert.Equal(plan.SendSegment(left, round), segment);
                for (int c = 0; c < plan.Chunks(segment); c++)
                {
                    var (start, length) = plan.Chunk(segment, c);
                    var theirs = sent[left].AsSpan((int)(start - plan.Segment(segment).Start), length);
                    var mine = buffers[rank].AsSpan((int)start, length);
                    if (plan.IsReduceRound(round)) GradientMath.AddInto(mine, theirs);
                    else theirs.CopyTo(mine);
                }
            }
        }

        for (int rank = 1; rank < world; rank++)
            Assert.Equal(GradientMath.Checksum(buffers[0]), GradientMath.Checksum(buffers[rank]));
        for (int i = 0; i < count; i++)
            Assert.True(Math.Abs(buffers[0][i] - expected[i]) < 1e-5, $"element {i}: {buffers[0][i]} vs {expected[i]}");
    }

    [Fact]
    public void SegmentsAndChunksTileTheBufferExactly()
    {
        var plan = new RingPlan(1003, 4, 100);
        long next = 0;
        for (int s = 0; s < 4; s++)
            for (int c = 0; c < plan.Chunks(s); c++)
            {
                var (start, length) = plan.Chunk(s, c);
                Assert.Equal(next, start);
                Assert.InRange(length, 1, 100);
                next += length;
            }
        Assert.Equal(1003, next);
        Assert.Equal(6, plan.Rounds);
    }

    [Fact]
    public void ChecksumSeesOneFlippedBitAndIgnoresNothing()
    {
        var values = Enumerable.Range(0, 1025).Select(i => i * 0.25f).ToArray();
        var before = GradientMath.Checksum(values);
        values[1024] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(values[1024]) ^ 1);
        Assert.NotEqual(before, GradientMath.Checksum(values));
        Assert.NotEqual(GradientMath.Checksum(new float[4]), GradientMath.Checksum(new float[5]));
    }
}
