using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;

namespace GrowLength.Client.Cli;

/// <summary>Per-stage totals of a run (steps, tokens, seconds, last loss), gathered from step metrics.</summary>
internal sealed class RunSummary
{
    private readonly SortedDictionary<int, StageTotals> stages = [];

    /// <summary>Totals of one stage.</summary>
    public sealed class StageTotals(int stage, int length)
    {
        public int Stage { get; } = stage;
        public int Length { get; } = length;
        public long Steps { get; set; }
        public long Tokens { get; set; }
        public double Seconds { get; set; }
        public double LastLoss { get; set; } = double.NaN;
        public double TokensPerSecond => Seconds > 0 ? Tokens / Seconds : 0;
    }

    public IEnumerable<StageTotals> Stages => stages.Values;

    public IReadOnlyList<EvalResult> Evaluation { get; set; } = [];

    public void Add(StepMetrics m)
    {
        if (!stages.TryGetValue(m.Stage, out var totals)) stages[m.Stage] = totals = new StageTotals(m.Stage, m.Length);
        totals.Steps++;
        totals.Tokens += m.StepTokens;
        totals.Seconds += m.StepSeconds;
        totals.LastLoss = m.Loss;
    }
}
