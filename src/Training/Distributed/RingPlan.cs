namespace GrowLength.Training.Distributed;

/// <summary>The layout of a ring all-reduce over a flat buffer: W segments, each cut into chunks, and which segment every rank sends and receives in each round.</summary>
/// <remarks>
/// Rounds 0 … W−2 reduce-scatter: rank r sends segment (r − k) mod W to rank r + 1 and adds what rank r − 1 sends
/// into its own copy, so after round W−2 rank r holds the full sum of segment (r + 1) mod W. Rounds W−1 … 2W−3
/// all-gather: each rank passes the summed segments on, copying instead of adding. Every element of the result is
/// summed once, by its segment's owner, and copied everywhere else, so all ranks end bitwise identical.
/// Chunks (a few MB) pipeline the rounds: chunk c of round k+1 leaves as soon as chunk c of round k arrived.
/// </remarks>
public sealed class RingPlan
{
    public RingPlan(long count, int worldSize, int chunkElements)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(worldSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkElements, 1);
        Count = count;
        WorldSize = worldSize;
        ChunkElements = chunkElements;
    }

    /// <summary>Elements in the buffer.</summary>
    public long Count { get; }

    /// <summary>Workers in the ring.</summary>
    public int WorldSize { get; }

    /// <summary>Most elements one chunk message carries.</summary>
    public int ChunkElements { get; }

    /// <summary>Rounds of one all-reduce: 2(W − 1), none with one worker.</summary>
    public int Rounds => 2 * (WorldSize - 1);

    /// <summary>True for the reduce-scatter rounds (add what arrives), false for the all-gather ones (copy it).</summary>
    public bool IsReduceRound(int round) => round < WorldSize - 1;

    /// <summary>Elements [Start, Start + Length) of segment <paramref name="segment"/>; segments differ in length by at most one.</summary>
    public (long Start, long Length) Segment(int segment)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(segment);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(segment, WorldSize);
        long start = Count * segment / WorldSize;
        long end = Count * (segment + 1) / WorldSize;
        return (start, end - start);
    }

    /// <summary>Chunks in a segment (0 for an empty one).</summary>
    public int Chunks(int segment) => (int)((Segment(segment).Length + ChunkElements - 1) / ChunkElements);

    /// <summary>Elements [Start, Start + Length) of chunk <paramref name="chunk"/> of a segment, in buffer coordinates.</summary>
    public (long Start, int Length) Chunk(int segment, int chunk)
    {
        var (start, length) = Segment(segment);
        ArgumentOutOfRangeException.ThrowIfNegative(chunk);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(chunk, Chunks(segment));
        long offset = (long)chunk * ChunkElements;
        return (start + offset, (int)Math.Min(ChunkElements, length - offset));
    }

    /// <summary>The segment rank <paramref name="rank"/> sends to its right neighbour in <paramref name="round"/>.</summary>
    public int SendSegment(int rank, int round)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(round);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(round, Math.Max(1, Rounds));
        return IsReduceRound(round) ? Mod(rank - round) : Mod(rank + 1 - (round - (WorldSize - 1)));
    }

    /// <summary>The segment rank <paramref name="rank"/> receives from its left neighbour in <paramref name="round"/>.</summary>
    public int ReceiveSegment(int rank, int round) => SendSegment(Mod(rank - 1), round);

    /// <summary>The rank a worker sends to.</summary>
    public int Right(int rank) => Mod(rank + 1);

    private int Mod(int value) => ((value % WorldSize) + WorldSize) % WorldSize;
}
