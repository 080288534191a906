namespace GrowLength.Training.Data;

/// <summary>Fixed evaluation windows of one context length from the validation split: the same tokens for every schedule and run.</summary>
/// <remarks>
/// Window inputs are aligned, non-overlapping ranges [p·c, p·c + c) of the validation tokens, with targets
/// shifted by one. When more windows fit than asked for, the chosen positions p are spread evenly over
/// the split (p = floor(k·available/count)), so a small evaluation still samples the whole split.
/// Depends only on (corpus, contextLength, maxWindows).
/// </remarks>
public sealed class ValidationWindows
{
    private readonly PackedCorpus _corpus;
    private readonly long _available;

    public ValidationWindows(PackedCorpus corpus, int contextLength, int maxWindows)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(contextLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxWindows);
        _corpus = corpus;
        ContextLength = contextLength;
        // Each window needs one token past its inputs for the last target.
        _available = corpus.ValidationTokenCount > 0 ? (corpus.ValidationTokenCount - 1) / contextLength : 0;
        if (_available == 0)
        {
            throw new RunInputException(
                "eval.lengths",
                $"the validation split has {corpus.ValidationTokenCount} tokens; one window of length {contextLength} needs {contextLength + 1}. " +
                "Use a shorter evaluation length, a larger corpus, or a larger data.validationFraction");
        }
        Count = (int)Math.Min(_available, maxWindows);
    }

    public int ContextLength { get; }

    public int Count { get; }

    /// <summary>Where window <paramref name="window"/>'s inputs start in the validation split.</summary>
    public long StartOf(int window)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(window);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(window, Count);
        var position = (long)((UInt128)(ulong)window * (ulong)_available / (ulong)Count);
        return position * ContextLength;
    }

    /// <summary>Fills windows [first, first + count) row-major into [count, ContextLength] inputs and targets.</summary>
    public void Read(int first, int count, Span<long> inputs, Span<long> targets)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first + count, Count);
        var size = (long)count * ContextLength;
        if (inputs.Length != size || targets.Length != size)
        {
            throw new ArgumentException($"inputs and targets must hold {count} windows of {ContextLength} tokens ({size})");
        }
        for (var k = 0; k < count; k++)
        {
            var start = StartOf(first + k);
            var input = inputs.Slice(k * ContextLength, ContextLength);
            var target = targets.Slice(k * ContextLength, ContextLength);
            _corpus.Read(CorpusSplit.Validation, start, input);
            _corpus.Read(CorpusSplit.Validation, start + 1, target);
        }
    }
}
