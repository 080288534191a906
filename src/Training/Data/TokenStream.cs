namespace GrowLength.Training.Data;

/// <summary>The step protocol's token stream: train tokens cut into blocks of the maximum length, shuffled per epoch, served as rows.</summary>
/// <remarks>
/// The stream is the concatenation of the shuffled blocks of epoch 0, then epoch 1, and so on, forever.
/// Epoch e's block order is a pure function of (seed, e) (SplitMix64 + Fisher-Yates, our own code so it
/// never changes with the .NET version). A step reads the stream range [offset, offset + rows·length),
/// reshaped into rows, so steps of any length consume the stream with no token dropped or repeated.
/// The train tokens after the last whole block are never used: they are dropped once, here, when the
/// blocks are cut, not per step.
/// Everything is a pure function of (corpus, blockLength, seed, offset), so resuming needs only a step
/// number. Thread-safe.
/// </remarks>
public sealed class TokenStream
{
    private readonly PackedCorpus _corpus;
    private readonly long _seed;
    private readonly object _gate = new();

    // The last two epochs' permutations: a step straddles at most an epoch boundary at a time, and
    // workers of one step share them.
    private (long Epoch, long[] Order)? _recent;
    private (long Epoch, long[] Order)? _older;

    public TokenStream(PackedCorpus corpus, int blockLength, long seed)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockLength);
        _corpus = corpus;
        _seed = seed;
        BlockLength = blockLength;
        BlockCount = corpus.TrainTokenCount / blockLength;
        if (BlockCount == 0)
        {
            throw new RunInputException(
                "data.path",
                $"corpus has {corpus.TrainTokenCount} training tokens; one block of the maximum length needs {blockLength}. " +
                "Use a larger corpus or a smaller maximum length");
        }
        TokensPerEpoch = BlockCount * blockLength;
    }

    public int BlockLength { get; }

    public long BlockCount { get; }

    public long TokensPerEpoch { get; }

    /// <summary>How many of a step's <paramref name="rows"/> worker <paramref name="rank"/> of <paramref name="worldSize"/> takes (rows rank, rank+W, ...).</summary>
    public static int RowsFor(int rows, int rank, int worldSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(worldSize);
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(rank, worldSize);
        return rank < rows ? (rows - rank + worldSize - 1) / worldSize : 0;
    }

    /// <summary>
    /// Fills this worker's rows of a step: global row i is stream[streamOffset + i·length, + length) as inputs and
    /// the same range shifted by one as targets. <paramref name="inputs"/> and <paramref name="targets"/> are
    /// row-major [RowsFor(rows, rank, worldSize), length].
    /// </summary>
    public void ReadRows(
        long streamOffset, int length, int rows, int rank, int worldSize, Span<long> inputs, Span<long> targets)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(streamOffset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        var mine = RowsFor(rows, rank, worldSize);
        var size = (long)mine * length;
        if (inputs.Length != size || targets.Length != size)
        {
            throw new ArgumentException($"inputs and targets must hold {mine} rows of {length} tokens ({size}), not {inputs.Length} and {targets.Length}");
        }
        for (var j = 0; j < mine; j++)
        {
            var row = rank + (long)j * worldSize;
            var start = streamOffset + row * length;
            var input = inputs.Slice(j * length, length);
            var target = targets.Slice(j * length, length);
            Read(start, input);
            input.Slice(1).CopyTo(target);
            Read(start + length, target.Slice(length - 1, 1));
        }
    }

    /// <summary>Copies stream tokens [streamOffset, streamOffset + destination.Length).</summary>
    public void Read(long streamOffset, Span<long> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(streamOffset);
        while (!destination.IsEmpty)
        {
            var epoch = streamOffset / TokensPerEpoch;
            var within = streamOffset % TokensPerEpoch;
            var position = within / BlockLength;
            var offset = (int)(within % BlockLength);
            var block = EpochOrder(epoch)[position];
            var count = Math.Min(destination.Length, BlockLength - offset);
            _corpus.Read(CorpusSplit.Train, block * BlockLength + offset, destination.Slice(0, count));
            destination = destination.Slice(count);
            streamOffset += count;
        }
    }

    /// <summary>The block order of an epoch: element k is the corpus block (train tokens [b·L, (b+1)·L)) at position k. A copy.</summary>
    public long[] EpochPermutation(long epoch) => (long[])EpochOrder(epoch).Clone();

    private long[] EpochOrder(long epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        lock (_gate)
        {
            if (_recent is { } recent && recent.Epoch == epoch)
            {
                return recent.Order;
            }
            if (_older is { } older && older.Epoch == epoch)
            {
                return older.Order;
            }
        }
        var order = Shuffle(BlockCount, _seed, epoch);
        lock (_gate)
        {
            _older = _recent;
            _recent = (epoch, order);
        }
        return order;
    }

    internal static long[] Shuffle(long count, long seed, long epoch)
    {
        var order = new long[count];
        for (long i = 0; i < count; i++)
        {
            order[i] = i;
        }
        var random = new SplitMix64(SplitMix64.Hash(seed, (ulong)epoch, 0xB10C5));
        for (var i = count - 1; i > 0; i--)
        {
            var j = (long)random.NextBelow((ulong)i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
