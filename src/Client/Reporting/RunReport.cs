using GrowLength.Grains;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Data;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Export;
using GrowLength.Training.Run;
using Microsoft.Extensions.Logging;
using GrowLength.Client.Commands;

namespace GrowLength.Client.Reporting;

/// <summary>Totals of one stage of a run.</summary>
internal sealed record StageTotals(int Stage, int Length, long Steps, long Tokens, double Seconds, double LastLoss)
{
    public double TokensPerSecond => Seconds > 0 ? Tokens / Seconds : 0;
}

/// <summary>What a completed run reports: per-stage totals from the coordinator, and validation loss per length computed
/// here from the latest complete checkpoint.</summary>
/// <remarks>The evaluation runs in the client rather than in a grain: it is a one-off, read-only pass over a checkpoint
/// and the corpus's validation split, so it needs neither the device-slot host nor a grain turn, and nothing in the
/// cluster has to change. The cost is that the client must reach the checkpoint folder (always so for the embedded silo;
/// with --cluster, shared storage or the same machine), and it says so when it cannot.</remarks>
internal static class RunReport
{
    /// <summary>Per-stage steps, tokens and seconds from the durable transitions (each carries the elapsed training seconds
    /// at its start) up to the run's progress; the last loss of a stage comes from the step records the client saw.</summary>
    public static IReadOnlyList<StageTotals> Stages(RunStatus status, IReadOnlyDictionary<long, StepRecord> records)
    {
        var stages = new List<StageTotals>();
        var t = status.Transitions;
        for (int i = 0; i < t.Length; i++)
        {
            long endStep = i + 1 < t.Length ? t[i + 1].Step : status.Step;
            long endTokens = i + 1 < t.Length ? t[i + 1].Tokens : status.Tokens;
            double endSeconds = i + 1 < t.Length ? t[i + 1].ElapsedSeconds : status.ElapsedSeconds;
            if (endStep <= t[i].Step) continue; // a transition decided for a step that never ran
            var last = records.TryGetValue(endStep - 1, out var r) ? r.Loss : i == t.Length - 1 ? status.Loss : double.NaN;
            stages.Add(new StageTotals(t[i].Stage, t[i].Length, endStep - t[i].Step, endTokens - t[i].Tokens, endSeconds - t[i].ElapsedSeconds, last));
        }
        return stages;
    }

    /// <summary>Loads the checkpoint's model (not its optimizer), evaluates every evaluation length and RoPE mode of its
    /// spec on its corpus's validation split, as `growlength eval` does, and exports the model when asked. Throws
    /// RunInputException naming a checkpoint file that does not verify.</summary>
    public static (IReadOnlyList<EvalResult> Results, IReadOnlyList<string> Exported) Evaluate(
        CheckpointRecord checkpoint, string corpusCache, string? exportFolder, ILogger logger, CorpusLimits? limits = null)
    {
        var store = new CheckpointStore(Path.GetDirectoryName(checkpoint.Folder)!, Math.Max(1, checkpoint.KeepLast), logger);
        var source = EvalSource.ForCheckpoint(store.Open(checkpoint.Step));
        var tokenizer = TokenizerCatalog.Create(source.Tokenizer);
        using var model = source.LoadModel(Devices.Resolve(source.Device));
        using var corpus = CorpusCache.Open(source.Data, source.Seed, tokenizer, corpusCache, logger, limits);
        var results = Evaluator.Evaluate(model, corpus, source.Lengths, source.Modes, source.TrainedLength, source.Windows, source.BatchTokens);
        IReadOnlyList<string> exported = exportFolder is null ? [] : ModelExporter.Export(model, exportFolder, tokenizer.Name, source.TrainedLength,
            (source.Data.ValidationFraction, source.Data.SplitSeedFor(source.Seed)));
        return (results, exported);
    }
}
