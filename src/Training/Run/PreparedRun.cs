using GrowLength.Training.Data;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace GrowLength.Training.Run;

/// <summary>A validated spec with its corpus opened: what reads a run's tokens (the bare Trainer, a data shard) starts from.
/// The schedules are the <see cref="Engine.RunController"/>'s, which needs no corpus.</summary>
public sealed class PreparedRun : IDisposable
{
    private PreparedRun(RunSpec spec, ITokenizer tokenizer, PackedCorpus corpus, TokenStream stream)
    {
        Spec = spec;
        Tokenizer = tokenizer;
        Corpus = corpus;
        Stream = stream;
    }

    /// <summary>The spec, validated, with the vocabulary resolved.</summary>
    public RunSpec Spec { get; }

    /// <summary>The tokenizer the corpus was packed with.</summary>
    public ITokenizer Tokenizer { get; }

    /// <summary>The packed, memory-mapped corpus.</summary>
    public PackedCorpus Corpus { get; }

    /// <summary>The shuffled token stream the steps read.</summary>
    public TokenStream Stream { get; }

    /// <summary>Validates <paramref name="spec"/>, ingests or reuses its corpus under <paramref name="cacheRoot"/> within
    /// <paramref name="limits"/> (null: <see cref="CorpusLimits.Default"/>), and checks the corpus can feed a step.</summary>
    public static PreparedRun Open(RunSpec spec, string cacheRoot, ILogger logger, CorpusLimits? limits = null)
    {
        spec.Validated();
        var tokenizer = TokenizerCatalog.Create(spec.Data.Tokenizer);
        spec = spec.WithVocabularyOf(tokenizer).Validated();
        var corpus = CorpusCache.Open(spec.Data, spec.Seed, tokenizer, cacheRoot, logger, limits);
        try
        {
            var stream = new TokenStream(corpus, spec.Schedule.MaxLength, spec.Seed);
            // A step that wrapped around the whole corpus would train on some tokens twice within one update.
            if (stream.TokensPerEpoch < spec.Schedule.GlobalBatchTokens + 1)
                throw new RunInputException("data.path", $"the corpus has {stream.TokensPerEpoch:N0} usable training tokens; one step needs {spec.Schedule.GlobalBatchTokens + 1:N0} (schedule.globalBatchTokens + 1). Use a larger corpus or a smaller batch.");
            CheckValidationSplit(spec, corpus);
            return new PreparedRun(spec, tokenizer, corpus, stream);
        }
        catch
        {
            corpus.Dispose();
            throw;
        }
    }

    /// <summary>The run ends by measuring validation loss at every evaluation length (and its curve at
    /// <see cref="RunSpec.CurveLength"/>): a split too short for one window of the longest is refused before anything
    /// trains, not found out when training is done.</summary>
    private static void CheckValidationSplit(RunSpec spec, PackedCorpus corpus)
    {
        var longest = spec.EvalLengths.Append(spec.CurveLength).Max();
        var tokens = corpus.ValidationTokenCount;
        if (tokens >= longest + 1L) return;
        if (tokens == 0)
            throw new RunInputException("data.path",
                $"{spec.Data.Path ?? "the default corpus"} is one document, which trains, so nothing is held back to measure the run's loss on. Give a corpus of two or more documents.");
        throw new RunInputException("eval.lengths",
            $"the validation split of {spec.Data.Path ?? "the default corpus"} has {tokens:N0} tokens; a window at length {longest:N0} (the longest of eval.lengths, by default twice schedule.maxLength, and eval.curveLength) needs {longest + 1L:N0}. "
            + "Give shorter eval.lengths, a larger data.validationFraction, or a larger corpus.");
    }

    /// <summary>The device named by the spec ("auto" picks CUDA when available).</summary>
    public Device ResolveDevice() => Devices.Resolve(Spec.Device);

    public void Dispose() => Corpus.Dispose();
}
