namespace GrowLength.Training.Schedules;

/// <summary>How one step's rows at a given length split over workers and micro-batches: the one place of the micro-batch rule.</summary>
/// <remarks>
/// Rows per step = max(1, G / T), integer division: tokens per step stay near G whatever the length and
/// the worker count. When T does not divide G the step carries rows * T &lt; G tokens; no
/// token is skipped because the next step's stream offset is the running token count
/// (<see cref="TrainingProgress.Tokens"/>), not step * G. Worker r of W takes rows r, r + W, ...;
/// a worker can get no rows when W exceeds the rows (it then contributes zero weight to the all-reduce,
/// which averages by tokens). Each worker's rows go in micro-batches of at most max(1, M / T) rows, the
/// memory bound of gradient accumulation.
/// </remarks>
public sealed record BatchPlan
{
    private BatchPlan(int length, int rows, int rowsPerMicroBatch) =>
        (Length, Rows, RowsPerMicroBatch) = (length, rows, rowsPerMicroBatch);

    /// <summary>Sequence length T of every row.</summary>
    public int Length { get; }

    /// <summary>Rows in the whole step, over all workers.</summary>
    public int Rows { get; }

    /// <summary>Most rows one forward/backward pass takes.</summary>
    public int RowsPerMicroBatch { get; }

    /// <summary>Tokens in the whole step: rows times length.</summary>
    public long Tokens => (long)Rows * Length;

    /// <summary>The plan at <paramref name="length"/> for <paramref name="globalBatchTokens"/> per step and <paramref name="microBatchTokens"/> per micro-batch.</summary>
    public static BatchPlan For(int length, long globalBatchTokens, long microBatchTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(globalBatchTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatchTokens, 1);
        var rows = Math.Max(1, globalBatchTokens / length);
        var perMicro = MicroBatchRows(length, microBatchTokens);
        if (rows > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(globalBatchTokens), globalBatchTokens, "More rows per step than an int holds.");
        }

        return new BatchPlan(length, (int)rows, (int)Math.Min(perMicro, rows));
    }

    /// <summary>Rows of one full micro-batch at <paramref name="length"/>: max(1, M / T), the memory bound of a forward/backward pass.</summary>
    public static int MicroBatchRows(int length, long microBatchTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatchTokens, 1);
        return (int)Math.Min(int.MaxValue, Math.Max(1, microBatchTokens / length));
    }

    /// <summary>Number of rows worker <paramref name="rank"/> of <paramref name="worldSize"/> takes.</summary>
    public int RowsForRank(int rank, int worldSize)
    {
        CheckRank(rank, worldSize);
        return rank >= Rows ? 0 : ((Rows - rank - 1) / worldSize) + 1;
    }

    /// <summary>Indices within the step of the rows worker <paramref name="rank"/> takes: rank, rank + W, ...</summary>
    public IReadOnlyList<int> RowIndicesForRank(int rank, int worldSize)
    {
        var count = RowsForRank(rank, worldSize);
        var indices = new int[count];
        for (var i = 0; i < count; i++)
        {
            indices[i] = rank + (i * worldSize);
        }

        return indices;
    }

    /// <summary>Row counts of worker <paramref name="rank"/>'s micro-batches, in order: full ones, then the remainder.</summary>
    public IReadOnlyList<int> MicroBatchesForRank(int rank, int worldSize)
    {
        var rows = RowsForRank(rank, worldSize);
        var batches = new List<int>((rows / RowsPerMicroBatch) + 1);
        for (var left = rows; left > 0; left -= RowsPerMicroBatch)
        {
            batches.Add(Math.Min(left, RowsPerMicroBatch));
        }

        return batches;
    }

    private static void CheckRank(int rank, int worldSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(worldSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(rank, worldSize);
    }
}
