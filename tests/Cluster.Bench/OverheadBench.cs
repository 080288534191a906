using System.Diagnostics;
using System.Globalization;
using System.Text;
using GrowLength.Grains;
using GrowLength.Grains.Hosting;
using GrowLength.Training.Engine;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Model;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.TestingHost;

namespace GrowLength.Cluster.Bench;

/// <summary>The cost of the actor layer: tokens/s of a one-worker Orleans run (in-process silo) against the bare Trainer
/// loop on the same model, data and steps, alternated A/B in one process so drift on a shared machine hits both.</summary>
/// <remarks>Throughput is measured over the steady part of each trial: from the completion of step <see cref="Warmup"/>
/// to the completion of the last step. The bare loop's completions come from its observer; the cluster's from polling
/// the coordinator's status, every 10 ms only during the step that ends at each of those two moments and every 500 ms
/// otherwise. (Polling every 5 ms throughout, as this benchmark first did, is 200 status calls a second on the same two
/// cores and was itself a cost charged to the cluster side.) Each trial also gives its median step time as the training
/// thread measured it, so a slower step and time between steps can be told apart. Neither side checkpoints inside that
/// window.</remarks>
internal static class OverheadBench
{
    private const int Warmup = 2;

    public static async Task Run(int steps, int rounds, int[] lengths, int tokensPerStep)
    {
        var root = Path.Combine(Path.GetTempPath(), $"growlength-overhead-{Guid.NewGuid():N}");
        try
        {
            var corpus = Path.Combine(root, "corpus");
            Directory.CreateDirectory(corpus);
            // Enough distinct text that a trial never wraps the stream: steps × tokens per step bytes and more.
            var words = new[] { "the cat sat on the mat", "a dog ran in the park", "birds sing at dawn", "rain falls on the roof", "seven ships sailed north", "old trees whisper" };
            var random = new Random(7);
            long need = (long)steps * tokensPerStep * 2;
            for (int d = 0; need > 0; d++)
            {
                var text = new StringBuilder();
                for (int s = 0; s < 400; s++) text.Append(words[random.Next(words.Length)]).Append(' ').Append(random.Next(100000)).Append(". ");
                File.WriteAllText(Path.Combine(corpus, $"doc{d:D4}.txt"), text.ToString());
                need -= text.Length;
            }
            var options = new GrowLengthSiloOptions
            {
                StateFolder = Path.Combine(root, "state"), CheckpointFolder = Path.Combine(root, "checkpoints"),
                CorpusCacheFolder = Path.Combine(root, "cache"), DeviceSlots = 1,
            };
            var builder = new InProcessTestClusterBuilder(1);
            builder.ConfigureSilo((_, silo) => silo.AddGrowLength(options));
            await using var cluster = builder.Build();
            await cluster.DeployAsync();

            Console.WriteLine($"LD_PRELOAD: {Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "(none, glibc malloc)"}; {Environment.ProcessorCount} logical CPUs; torch threads {TorchSharp.torch.get_num_threads()}");
            int trial = 0;
            foreach (var length in lengths)
            {
                var spec = RunSpecPresets.Tiny() with
                {
                    Name = "overhead",
                    Model = ModelPresets.CpuDemo(),
                    Data = new DataConfig { Path = corpus, ValidationFraction = 0.01 },
                    Schedule = new ScheduleConfig { Kind = "fixed", MinLength = length, MaxLength = length, GlobalBatchTokens = tokensPerStep, MicroBatchTokens = tokensPerStep },
                    Budget = new BudgetConfig { Tokens = (long)tokensPerStep * steps },
                    Optimizer = new OptimizerConfig { PeakLearningRate = 3e-3, WarmupTokens = tokensPerStep },
                    Checkpoint = new CheckpointConfig { EverySteps = 0, AtStageTransitions = false, KeepLast = 1 },
                    Eval = new EvalConfig { Lengths = [length], MaxWindows = 1 },
                };
                var bare = new List<double>();
                var orleans = new List<double>();
                // Round 0 warms up and is not counted: the first trials of each kind run code the JIT has not optimised yet
                // (its background tier-up thread was seen at 6-12 % of a core then), which a silo that trains for hours
                // pays once.
                for (int r = -1; r < rounds; r++)
                {
                    if (r < 0)
                    {
                        Bare(spec, options.CorpusCacheFolder);
                        await Cluster(cluster.Client, $"overhead-{trial++}", spec, steps);
                        Console.WriteLine($"length {length}: warm-up round done (not counted)");
                        continue;
                    }
                    var (a, aStep) = Bare(spec, options.CorpusCacheFolder);
                    bare.Add(a);
                    Console.WriteLine($"length {length} round {r + 1}: bare Trainer {a:F1} tokens/s, median step {aStep * 1e3:F1} ms");
                    var (b, bStep) = await Cluster(cluster.Client, $"overhead-{trial++}", spec, steps);
                    orleans.Add(b);
                    Console.WriteLine($"length {length} round {r + 1}: Orleans 1 worker {b:F1} tokens/s, median step {bStep * 1e3:F1} ms (ratio {b / a:F4}; step time ratio {aStep / bStep:F4})");
                }
                var pairs = bare.Zip(orleans, (x, y) => y / x).ToArray();
                Console.WriteLine($"length {length}: bare {string.Join(", ", bare.Select(x => x.ToString("F1", CultureInfo.InvariantCulture)))}; " +
                    $"Orleans {string.Join(", ", orleans.Select(x => x.ToString("F1", CultureInfo.InvariantCulture)))}");
                Console.WriteLine($"length {length}: ratio Orleans/bare of means {orleans.Average() / bare.Average():F4}; per round {string.Join(", ", pairs.Select(x => x.ToString("F4", CultureInfo.InvariantCulture)))}; " +
                    $"median {pairs.Order().ElementAt(pairs.Length / 2):F4}");
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static (double TokensPerSecond, double MedianStepSeconds) Bare(RunSpec spec, string cache)
    {
        using var run = PreparedRun.Open(spec, cache, NullLogger.Instance);
        var clock = new StepClock();
        using var trainer = new Trainer(run, null, clock, NullLogger.Instance);
        trainer.Train(CancellationToken.None);
        return (clock.TokensPerSecond(Warmup), clock.MedianStepSeconds(Warmup));
    }

    private static async Task<(double TokensPerSecond, double MedianStepSeconds)> Cluster(IGrainFactory grains, string runId, RunSpec spec, int steps)
    {
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>(runId);
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(spec)));
        await coordinator.Start(new StartRun(1));
        var seen = new Dictionary<long, long>(); // completed steps → timestamp first seen
        RunStatus status;
        do
        {
            status = await coordinator.Status();
            seen.TryAdd(status.Step, Stopwatch.GetTimestamp());
            // Fine-grained only while the step that ends at a boundary of the measured window runs.
            await Task.Delay(status.Step == Warmup - 1 || status.Step == steps - 1 ? 10 : 500);
        } while (status.Lifecycle is RunLifecycle.Running or RunLifecycle.Stopping);
        if (status.Lifecycle != RunLifecycle.Completed) throw new InvalidOperationException($"{status.Lifecycle}: {status.Reason}");
        var records = await coordinator.Steps(0);
        if (records.Length != steps || !seen.TryGetValue(Warmup, out var from) || !seen.TryGetValue(steps, out var to))
            throw new InvalidOperationException($"polling missed a boundary (saw {string.Join(", ", seen.Keys.Order())} of {records.Length} steps); use longer steps");
        var measured = records.Where(r => r.Step >= Warmup).ToArray();
        long tokens = measured.Sum(r => r.StepTokens);
        return (tokens / Stopwatch.GetElapsedTime(from, to).TotalSeconds, Median(measured.Select(r => r.StepSeconds)));
    }

    private static double Median(IEnumerable<double> values) => Training.Bench.SampleMedian.Of(values);

    /// <summary>Completion time of each step of the bare loop.</summary>
    private sealed class StepClock : ITrainingObserver
    {
        private readonly List<(long Completed, long Tokens, long At, double Seconds)> steps = [];

        public void OnStep(StepMetrics metrics) => steps.Add((metrics.Step + 1, metrics.StepTokens, Stopwatch.GetTimestamp(), metrics.StepSeconds));

        public double MedianStepSeconds(int warmup) => Median(steps.Where(s => s.Completed > warmup).Select(s => s.Seconds));

        public double TokensPerSecond(int warmup)
        {
            var from = steps.Single(s => s.Completed == warmup).At;
            var to = steps[^1].At;
            return steps.Where(s => s.Completed > warmup).Sum(s => s.Tokens) / Stopwatch.GetElapsedTime(from, to).TotalSeconds;
        }

        public void OnStageStarted(StageTransition transition) { }
        public void OnCheckpoint(long step, string folder, double seconds) { }
        public void OnEvaluation(long step, long tokens, double elapsedSeconds, IReadOnlyList<EvalResult> results) { }
    }
}
