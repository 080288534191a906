namespace GrowLength.Training.Data;

/// <summary>Fixed evaluation windows of one context length from the validation split: the same tokens for every schedule and run.</summary>
/// <remarks>
/// Window inputs are aligned, non-overlapping ranges [p·c, p·c + c) of the validation tokens, with targets
/// shifted by one. When more windows fit than asked for, the chosen positions p are spread evenly over
/// the split (p = floor(k·available/count)), so a small evaluation still samples the whole split.
/// Depends only on (corpus, contextLength, maxWindows). <see cref="ReadAll"/> and <see cref="FromTokens"/> carry the same
/// windows to where the corpus is not open (a cluster worker), so every evaluation of a run measures the same tokens.
/// </remarks>
public sealed class ValidationWindows
{
    private readonly PackedCorpus? _corpus;
    private readonly long _available;
    // Held in memory instead of read from a corpus: each window's ContextLength + 1 tokens, and where it started.
    private readonly int[]? _tokens;
    private readonly long[]? _starts;

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

    private ValidationWindows(int contextLength, long[] starts, int[] tokens)
    {
        ContextLength = contextLength;
        Count = starts.Length;
        _starts = starts;
        _tokens = tokens;
    }

    /// <summary>Windows held in memory as <see cref="ReadAll"/> gave them: the same windows, read without the corpus.</summary>
    /// <param name="contextLength">the windows' context length.</param>
    /// <param name="starts">where each window's inputs start in the validation split.</param>
    /// <param name="tokens">each window's <paramref name="contextLength"/> + 1 tokens (inputs, then the last target), window after window.</param>
    public static ValidationWindows FromTokens(int contextLength, long[] starts, int[] tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(contextLength);
        ArgumentNullException.ThrowIfNull(starts);
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.LongLength != starts.LongLength * (contextLength + 1))
            throw new ArgumentException($"{starts.Length} windows of length {contextLength} need {starts.LongLength * (contextLength + 1)} tokens, not {tokens.Length}");
        return new ValidationWindows(contextLength, starts, tokens);
    }

    public int ContextLength { get; }

    public int Count { get; }

    /// <summary>Where window <paramref name="window"/>'s inputs start in the validation split.</summary>
    public long StartOf(int window)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(window);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(window, Count);
        if (_starts is not null) return _starts[window];
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
            if (_tokens is not null)
            {
                var row = _tokens.AsSpan((first + k) * (ContextLength + 1), ContextLength + 1);
                for (var i = 0; i < ContextLength; i++)
                {
                    inputs[k * ContextLength + i] = row[i];
                    targets[k * ContextLength + i] = row[i + 1];
                }
                continue;
            }
            var start = StartOf(first + k);
            var input = inputs.Slice(k * ContextLength, ContextLength);
            var target = targets.Slice(k * ContextLength, ContextLength);
            _corpus!.Read(CorpusSplit.Validation, start, input);
            _corpus.Read(CorpusSplit.Validation, start + 1, target);
        }
    }

    /// <summary>Every window's start and its ContextLength + 1 tokens (inputs, then the last target), window after window,
    /// for <see cref="FromTokens"/>.</summary>
    public (long[] Starts, int[] Tokens) ReadAll()
    {
        var starts = new long[Count];
        var tokens = new int[checked((long)Count * (ContextLength + 1))];
        for (var k = 0; k < Count; k++)
        {
            starts[k] = StartOf(k);
            if (_tokens is null) _corpus!.Read(CorpusSplit.Validation, starts[k], tokens.AsSpan(k * (ContextLength + 1), ContextLength + 1));
        }
        if (_tokens is not null) _tokens.CopyTo(tokens, 0);
        return (starts, tokens);
    }
}
