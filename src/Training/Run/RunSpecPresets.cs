using GrowLength.Training.Model;
using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Run;

/// <summary>Named starting points for a run spec; variants use <c>with</c> or <c>--section.key=value</c> overrides.</summary>
public static class RunSpecPresets
{
    /// <summary>Every preset by name.</summary>
    public static IReadOnlyDictionary<string, Func<RunSpec>> All { get; } = new Dictionary<string, Func<RunSpec>>
    {
        ["demo"] = Demo,
        ["tiny"] = Tiny,
        ["compare"] = Compare,
    };

    /// <summary>The CPU demonstration: the cpu-demo model, bytes, GrowLength 128 → 2048 on the default corpus.</summary>
    public static RunSpec Demo() => new()
    {
        Name = "demo",
        Model = ModelPresets.CpuDemo(),
        Schedule = new ScheduleConfig { Kind = ScheduleKinds.GrowLength, MinLength = 128, MaxLength = 2048, GlobalBatchTokens = 16384, MicroBatchTokens = 16384 },
        // 100 steps of 16,384 tokens: at the ~6,000 tokens/s (length 128) to ~3,600 (2048) measured on 2 cores, about
        // 6 minutes of training, so the whole demo (corpus packing, evaluation) ends within 10. Override with --budget.tokens.
        Budget = new BudgetConfig { Tokens = 1_638_400 },
        Optimizer = new OptimizerConfig { PeakLearningRate = 3e-3, WarmupTokens = 200_000 },
        Checkpoint = new CheckpointConfig { EverySteps = 50, KeepLast = 3 },
    };

    /// <summary>The demo for short side-by-side comparisons (`growlength compare`'s default): 4,096-token steps and a
    /// 50,000-token warm-up, so a two-minute run makes about a hundred updates instead of twenty-five. With the demo's
    /// 16,384-token steps, a 60–90 s comparison is decided by how few steps fit (docs/results.md). Validation on
    /// <see cref="CompareWindows"/> windows, and at every length change (eval.atTransitions).</summary>
    public static RunSpec Compare() => Demo() with
    {
        Name = "compare",
        Schedule = Demo().Schedule with { GlobalBatchTokens = 4096, MicroBatchTokens = 4096 },
        Optimizer = Demo().Optimizer with { WarmupTokens = 50_000 },
        Eval = Demo().Eval with { MaxWindows = CompareWindows, AtTransitions = true },
    };

    /// <summary>Validation windows per length of the compare preset. 16 left the standard error at 2048 as large as the
    /// differences reported (perplexity not monotone in length); see docs/benchmarks.md for what more windows cost.</summary>
    public const int CompareWindows = 64;

    /// <summary>A tiny run for tests and smoke checks: a 2-layer d = 32 model, lengths 16 → 64, seconds on a CPU.</summary>
    public static RunSpec Tiny() => new()
    {
        Name = "tiny",
        Model = ModelPresets.Tiny(),
        Schedule = new ScheduleConfig { Kind = ScheduleKinds.GrowLength, MinLength = 16, MaxLength = 64, GlobalBatchTokens = 512, MicroBatchTokens = 256 },
        Budget = new BudgetConfig { Tokens = 512 * 24 },
        Optimizer = new OptimizerConfig { PeakLearningRate = 1e-2, WarmupTokens = 512 * 2 },
        Checkpoint = new CheckpointConfig { EverySteps = 5, KeepLast = 2 },
        Eval = new EvalConfig { Lengths = [16, 64, 128], MaxWindows = 4 },
    };

    /// <summary>Looks a preset up; an unknown name names the setting.</summary>
    public static RunSpec ByName(string name) =>
        All.TryGetValue(name, out var make)
            ? make()
            : throw new RunInputException("preset", $"unknown run preset '{name}'; known: {string.Join(", ", All.Keys)}.");
}
