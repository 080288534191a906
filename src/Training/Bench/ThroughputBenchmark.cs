using System.Diagnostics;
using GrowLength.Training.Engine;
using GrowLength.Training.Model;
using GrowLength.Training.Optim;
using GrowLength.Training.Schedules;
using static TorchSharp.torch;

namespace GrowLength.Training.Bench;

/// <summary>Settings of one <see cref="ThroughputBenchmark"/> run.</summary>
/// <param name="Model">model shape (vocabulary resolved).</param>
/// <param name="Lengths">sequence lengths to measure, each at the same tokens per step.</param>
/// <param name="StepTokens">tokens per optimizer step (rows = StepTokens / length).</param>
/// <param name="MicroBatchTokens">most tokens per forward/backward pass.</param>
/// <param name="WarmupSteps">untimed steps per length (allocator and thread-pool warm-up).</param>
/// <param name="Seconds">timed seconds per length (at least <paramref name="MinSteps"/> steps).</param>
/// <param name="MinSteps">fewest timed steps per length.</param>
/// <param name="Seed">seed of the model and the random tokens.</param>
/// <param name="Breakdown">also time each length's dense matmuls and attention alone (<see cref="StepCostProbe"/>).</param>
public sealed record ThroughputSettings(
    ModelConfig Model, IReadOnlyList<int> Lengths, long StepTokens, long MicroBatchTokens,
    int WarmupSteps = 2, double Seconds = 5, int MinSteps = 3, long Seed = 1, bool Breakdown = false);

/// <summary>Throughput of training steps at one length.</summary>
/// <param name="Length">sequence length T.</param>
/// <param name="Steps">timed steps.</param>
/// <param name="TokensPerSecond">trained tokens per wall-clock second.</param>
/// <param name="StepSeconds">mean seconds per optimizer step.</param>
/// <param name="FlopsPerToken">model FLOPs per trained token (<see cref="ModelConfig.TrainingFlopsPerToken"/>).</param>
/// <param name="Mfu">model FLOPs utilisation against the measured matmul rate.</param>
/// <param name="CostPerTokenRelative">seconds per token relative to the first length measured.</param>
/// <param name="MfuPalmConvention">MFU counting the full T×T attention matrix (12·L·d·T, PaLM/nanoGPT), which
/// overstates what a causal kernel computes; shown only to compare with figures reported that way.</param>
/// <param name="Breakdown">where the step's time goes, when the settings asked for it.</param>
public sealed record LengthThroughput(int Length, int Steps, double TokensPerSecond, double StepSeconds, double FlopsPerToken, double Mfu, double CostPerTokenRelative, double MfuPalmConvention,
    StepCostBreakdown? Breakdown = null);

/// <summary>The result of a benchmark run: the matmul rate and each length's throughput.</summary>
/// <param name="MatmulFlopsPerSecond">the highest matmul rate measured in the run: the MFU denominator.</param>
/// <param name="MatmulSamples">every matmul rate measured (one before each length), to show how noisy the machine was.</param>
/// <param name="ParameterCount">trainable parameters of the model.</param>
/// <param name="Lengths">throughput per length, in the order measured.</param>
public sealed record ThroughputReport(double MatmulFlopsPerSecond, IReadOnlyList<double> MatmulSamples, long ParameterCount, IReadOnlyList<LengthThroughput> Lengths);

/// <summary>Measures training throughput and MFU per sequence length with the real step engine on random tokens.</summary>
/// <remarks>Random tokens cost exactly what corpus tokens cost, and keep the benchmark free of I/O.</remarks>
public static class ThroughputBenchmark
{
    public static ThroughputReport Run(ThroughputSettings settings, Device device, Action<LengthThroughput>? onLength = null)
    {
        // The machine's rate drifts with its other load; measuring before every length and dividing by the best
        // seen keeps MFU conservative (a slow moment lowers it, never raises it).
        var samples = new List<double>();
        using var engine = new StepEngine(settings.Model, settings.Seed, device);
        var adam = new AdamWSettings(0.9, 0.95, 1e-8, 0.1);
        var random = new Random((int)settings.Seed);
        var measured = new List<Measured>();
        foreach (var length in settings.Lengths)
        {
            samples.Add(MatmulRate.Measure(device));
            var plan = BatchPlan.For(length, settings.StepTokens, settings.MicroBatchTokens);
            int rows = plan.Rows, micro = plan.RowsPerMicroBatch;
            var inputs = new long[rows * length];
            var targets = new long[rows * length];
            for (int i = 0; i < inputs.Length; i++) { inputs[i] = random.Next(settings.Model.VocabSize); targets[i] = random.Next(settings.Model.VocabSize); }
            long stepTokens = (long)rows * length;
            void Step()
            {
                engine.AccumulateGradients(inputs, targets, rows, length, micro, stepTokens);
                engine.ApplyUpdate(1e-4, 1.0, adam);
            }
            for (int i = 0; i < settings.WarmupSteps; i++) Step();
            MatmulRate.Synchronize(device);
            var sw = Stopwatch.StartNew();
            int steps = 0;
            while (steps < settings.MinSteps || sw.Elapsed.TotalSeconds < settings.Seconds)
            {
                Step();
                steps++;
            }
            MatmulRate.Synchronize(device);
            var seconds = sw.Elapsed.TotalSeconds;
            var parts = settings.Breakdown ? StepCostProbe.Measure(settings.Model, plan, device) : ((double, double)?)null;
            measured.Add(new Measured(length, steps, stepTokens, stepTokens * steps / seconds, seconds, parts));
            onLength?.Invoke(Result(measured[^1], measured[0].TokensPerSecond, samples.Max()));
        }
        samples.Add(MatmulRate.Measure(device));
        var matmul = samples.Max();
        var results = measured.Select(m => Result(m, measured[0].TokensPerSecond, matmul)).ToList();
        return new ThroughputReport(matmul, samples, settings.Model.ParameterCount, results);

        LengthThroughput Result(Measured m, double firstTokensPerSecond, double rate)
        {
            var flops = settings.Model.TrainingFlopsPerToken(m.Length);
            var palm = settings.Model.TrainingFlopsPerToken(m.Length, causalAttention: false);
            var stepSeconds = m.Seconds / m.Steps;
            StepCostBreakdown? breakdown = m.Parts is var (dense, attention)
                ? new StepCostBreakdown(dense, attention, Math.Max(0, stepSeconds - dense - attention),
                    flops * m.StepTokens / (rate * (dense + attention)))
                : null;
            return new LengthThroughput(m.Length, m.Steps, m.TokensPerSecond, stepSeconds, flops, flops * m.TokensPerSecond / rate,
                firstTokensPerSecond / m.TokensPerSecond, palm * m.TokensPerSecond / rate, breakdown);
        }
    }

    private sealed record Measured(int Length, int Steps, long StepTokens, double TokensPerSecond, double Seconds, (double Dense, double Attention)? Parts);
}
