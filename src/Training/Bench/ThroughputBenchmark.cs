using System.Diagnostics;
using GrowLength.Training.Engine;
using GrowLength.Training.Model;
using GrowLength.Training.Optim;
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
public sealed record ThroughputSettings(
    ModelConfig Model, IReadOnlyList<int> Lengths, long StepTokens, long MicroBatchTokens,
    int WarmupSteps = 2, double Seconds = 5, int MinSteps = 3, long Seed = 1);

/// <summary>Throughput of training steps at one length.</summary>
/// <param name="Length">sequence length T.</param>
/// <param name="Steps">timed steps.</param>
/// <param name="TokensPerSecond">trained tokens per wall-clock second.</param>
/// <param name="StepSeconds">mean seconds per optimizer step.</param>
/// <param name="FlopsPerToken">model FLOPs per trained token (<see cref="ModelConfig.TrainingFlopsPerToken"/>).</param>
/// <param name="Mfu">model FLOPs utilisation against the measured matmul rate.</param>
/// <param name="CostPerTokenRelative">seconds per token relative to the first length measured.</param>
public sealed record LengthThroughput(int Length, int Steps, double TokensPerSecond, double StepSeconds, double FlopsPerToken, double Mfu, double CostPerTokenRelative);

/// <summary>The result of a benchmark run: the matmul rate and each length's throughput.</summary>
public sealed record ThroughputReport(double MatmulFlopsPerSecond, long ParameterCount, IReadOnlyList<LengthThroughput> Lengths);

/// <summary>Measures training throughput and MFU per sequence length with the real step engine on random tokens.</summary>
/// <remarks>Random tokens cost exactly what corpus tokens cost, and keep the benchmark free of I/O.</remarks>
public static class ThroughputBenchmark
{
    public static ThroughputReport Run(ThroughputSettings settings, Device device, Action<LengthThroughput>? onLength = null)
    {
        var matmul = MatmulRate.Measure(device);
        using var engine = new StepEngine(settings.Model, settings.Seed, device);
        var adam = new AdamWSettings(0.9, 0.95, 1e-8, 0.1);
        var results = new List<LengthThroughput>();
        var random = new Random((int)settings.Seed);
        foreach (var length in settings.Lengths)
        {
            int rows = (int)Math.Max(1, settings.StepTokens / length);
            int micro = (int)Math.Max(1, settings.MicroBatchTokens / length);
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
            var tokensPerSecond = stepTokens * steps / seconds;
            var flops = settings.Model.TrainingFlopsPerToken(length);
            var relative = results.Count == 0 ? 1.0 : results[0].TokensPerSecond / tokensPerSecond;
            var result = new LengthThroughput(length, steps, tokensPerSecond, seconds / steps, flops, flops * tokensPerSecond / matmul, relative);
            results.Add(result);
            onLength?.Invoke(result);
        }
        return new ThroughputReport(matmul, settings.Model.ParameterCount, results);
    }
}
