using System.Diagnostics;
using System.Globalization;
using GrowLength.Grains;
using GrowLength.Grains.Hosting;
using GrowLength.Tests.Shared;
using GrowLength.Training.Model;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.TestingHost;

namespace GrowLength.Cluster.Bench;

/// <summary>The gradient exchange side by side: for each model, real runs of 1 and 2 workers, the 2-worker runs with each
/// change to the exchange switched on in turn (<see cref="Variants"/>), on one silo with two device slots and on two silo
/// processes over loopback. Variants alternate within each round, so drift on a shared machine hits all of them.</summary>
/// <remarks>Per run, the medians over its steps after the first two: the step's wall time (slowest rank), the exchange the
/// step waited for after backward (the rank that finished backward last: it waits for no peer, so this is the exposed
/// exchange), and the time that rank's exchange spent moving and summing buckets (its rate: gradient bytes over it).</remarks>
internal static class ExchangeBench
{
    private const int Warmup = 2;

    /// <summary>Bytes per gradient chunk message, in both placements.</summary>
    public static int ChunkBytes { get; set; } = 4 << 20;

    /// <summary>Which placements run: "one" (one silo, two slots), "two" (two silo processes).</summary>
    public static string[] Placements { get; set; } = ["one", "two"];

    /// <param name="DataPlane">chunks to another silo over the data plane rather than as grain calls.</param>
    /// <param name="Interleave">every started bucket moves on as its chunks come, rather than one bucket at a time.</param>
    /// <param name="OneSilo">measured on one silo too (the data plane only carries chunks between silos).</param>
    private sealed record Variant(string Name, bool Pool, bool DataPlane, bool Interleave, bool Overlap, bool OneSilo = true);

    private static readonly Variant[] Variants =
    [
        new("before: grain calls, an array per chunk, a bucket at a time, after backward", Pool: false, DataPlane: false, Interleave: false, Overlap: false),
        new("+ pooled arrays", Pool: true, DataPlane: false, Interleave: false, Overlap: false),
        new("+ data plane", Pool: true, DataPlane: true, Interleave: false, Overlap: false, OneSilo: false),
        new("+ buckets interleaved", Pool: true, DataPlane: true, Interleave: true, Overlap: false),
        new("+ overlap with backward (all on: the default)", Pool: true, DataPlane: true, Interleave: true, Overlap: true),
    ];

    private sealed record Result(string Model, string Placement, string Variant, int Workers, int Round, double Step, double Exposed, double Work, long Bytes);

    public static async Task Run(string[] models, int steps, int tokensPerStep, int rounds)
    {
        var root = Path.Combine(Path.GetTempPath(), $"growlength-exchange-{Guid.NewGuid():N}");
        var results = new List<Result>();
        try
        {
            var corpus = TinyCorpus.Write(Path.Combine(root, "corpus"), documents: 48, sentences: 60);
            Console.WriteLine($"LD_PRELOAD: {Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "(none)"}; {Environment.ProcessorCount} logical CPUs; " +
                $"OMP_NUM_THREADS={Environment.GetEnvironmentVariable("OMP_NUM_THREADS") ?? "(unset)"}; {steps} steps of {tokensPerStep} tokens at length 128; " +
                $"chunks of {ChunkBytes >> 10} KiB; {rounds} round(s)");
            for (int round = 1; round <= rounds; round++)
            {
                foreach (var model in models)
                {
                    var spec = Spec(model, corpus, steps, tokensPerStep);
                    long bytes = (ModelPresets.ByName(model) with { VocabSize = 257 }).ParameterCount * sizeof(float);
                    if (Placements.Contains("one"))
                    {
                        results.Add(await InOneSilo(root, spec, Variants[^1], 1) with { Round = round, Bytes = bytes });
                        Print(results[^1]);
                    }
                    foreach (var variant in Variants.Where(v => v.OneSilo && Placements.Contains("one")))
                    {
                        results.Add(await InOneSilo(root, spec, variant, 2) with { Round = round, Bytes = bytes });
                        Print(results[^1]);
                    }
                    foreach (var variant in Variants.Where(_ => Placements.Contains("two")))
                    {
                        results.Add(await InTwoProcesses(root, spec, variant) with { Round = round, Bytes = bytes });
                        Print(results[^1]);
                    }
                }
            }
            Console.WriteLine();
            Console.WriteLine("| model | placement | workers | exchange | step (ms) | exposed exchange (ms) | share of step | exchange work (ms) | GB/s per rank |");
            Console.WriteLine("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
            foreach (var group in results.GroupBy(r => (r.Model, r.Placement, r.Workers, r.Variant)))
            {
                var step = Median(group.Select(r => r.Step));
                var exposed = Median(group.Select(r => r.Exposed));
                var work = Median(group.Select(r => r.Work));
                var bytes = group.First().Bytes;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {group.Key.Model} | {group.Key.Placement} | {group.Key.Workers} | {(group.Key.Workers == 1 ? "none" : group.Key.Variant)} | {step * 1e3:F1} | " +
                    $"{(group.Key.Workers == 1 ? "—" : $"{exposed * 1e3:F2}")} | {(group.Key.Workers == 1 ? "—" : $"{exposed / step:P1}")} | " +
                    $"{(group.Key.Workers == 1 ? "—" : $"{work * 1e3:F2}")} | {(group.Key.Workers == 1 ? "—" : $"{bytes / work / 1e9:F2}")} |"));
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"plain copy of the cpu-small gradient (median of 20): {CopySeconds((ModelPresets.CpuSmall() with { VocabSize = 257 }).ParameterCount * sizeof(float)) * 1e3:F2} ms"));
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static RunSpec Spec(string model, string corpus, int steps, int tokensPerStep) => RunSpecPresets.Tiny() with
    {
        Name = "exchange",
        Model = ModelPresets.ByName(model),
        Data = new DataConfig { Path = corpus, ValidationFraction = 0.1 },
        Schedule = new ScheduleConfig { Kind = "fixed", MinLength = 128, MaxLength = 128, GlobalBatchTokens = tokensPerStep, MicroBatchTokens = tokensPerStep },
        Budget = new BudgetConfig { Tokens = (long)tokensPerStep * steps },
        Optimizer = new OptimizerConfig { PeakLearningRate = 1e-3, WarmupTokens = tokensPerStep },
        Checkpoint = new CheckpointConfig { EverySteps = 0, AtStageTransitions = false, KeepLast = 1 },
        Eval = new EvalConfig { Lengths = [128], MaxWindows = 1 },
    };

    private static async Task<Result> InOneSilo(string root, RunSpec spec, Variant variant, int workers)
    {
        var folder = Path.Combine(root, $"one-{Guid.NewGuid():N}");
        var options = new GrowLengthSiloOptions
        {
            StateFolder = Path.Combine(folder, "state"), CheckpointFolder = Path.Combine(folder, "checkpoints"),
            CorpusCacheFolder = Path.Combine(root, "cache"), DeviceSlots = 2, GradientChunkBytes = ChunkBytes,
            OverlapGradientExchange = variant.Overlap, PoolGradientChunks = variant.Pool, ExchangePort = variant.DataPlane ? 0 : -1,
            InterleaveGradientBuckets = variant.Interleave,
        };
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) => silo.AddGrowLength(options));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        try
        {
            return await Train(cluster.Client, spec, workers, spec.Model.Preset, "one silo, 2 slots", variant);
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    private static async Task<Result> InTwoProcesses(string root, RunSpec spec, Variant variant)
    {
        var folder = Path.Combine(root, $"two-{Guid.NewGuid():N}");
        var clusterId = $"bench-{Guid.NewGuid():N}"[..16];
        string[] settings = [$"GradientChunkBytes={ChunkBytes}", $"OverlapGradientExchange={variant.Overlap}", $"PoolGradientChunks={variant.Pool}",
            $"InterleaveGradientBuckets={variant.Interleave}", $"ExchangePort={(variant.DataPlane ? 0 : -1)}"];
        using var first = await SiloProcess.Start("bench-1", clusterId, folder, settings: settings);
        using var second = await SiloProcess.Start("bench-2", clusterId, folder, first, settings: settings);
        using var host = new HostBuilder()
            .UseOrleansClient(client => client.UseLocalhostClustering([first.GatewayPort, second.GatewayPort], clusterId, clusterId))
            .Build();
        await host.StartAsync();
        try
        {
            var grains = host.Services.GetRequiredService<IClusterClient>();
            await ActiveSilos.WaitUntil(grains, active => active == 2, "waiting for the two silos to see each other");
            return await Train(grains, spec, 2, spec.Model.Preset, "two silo processes, loopback", variant);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private static async Task<Result> Train(IGrainFactory grains, RunSpec spec, int workers, string model, string placement, Variant variant)
    {
        var runId = $"exchange-{Guid.NewGuid():N}"[..20];
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>(runId);
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(spec)));
        await coordinator.Start(new StartRun(workers));
        var deadline = DateTime.UtcNow.AddMinutes(10);
        RunStatus status;
        do
        {
            // Slow polling: the status call is work on the same two cores.
            await Task.Delay(250);
            status = await coordinator.Status();
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"run {runId} still {status.Lifecycle} after 10 minutes");
        } while (status.Lifecycle is RunLifecycle.Running or RunLifecycle.Stopping);
        if (status.Lifecycle != RunLifecycle.Completed) throw new InvalidOperationException($"{status.Lifecycle}: {status.Reason}");
        var records = (await coordinator.Steps(0)).Where(r => r.Step >= Warmup).ToArray();
        if (workers > 1 && records.Any(r => r.Checksums.Distinct().Count() != 1)) throw new InvalidOperationException("the workers' parameters differ");
        return new Result(model, placement, variant.Name, workers, 0, Median(records.Select(r => r.StepSeconds)),
            Median(records.Select(r => r.ExchangeTransferSeconds)), Median(records.Select(r => r.ExchangeWorkSeconds)), 0);
    }

    private static void Print(Result r) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"round {r.Round} {r.Model}, {r.Placement}, {r.Workers} worker(s), {(r.Workers == 1 ? "no exchange" : r.Variant)}: step {r.Step * 1e3:F1} ms, " +
        $"exposed exchange {r.Exposed * 1e3:F2} ms, exchange work {r.Work * 1e3:F2} ms{(r.Workers > 1 && r.Work > 0 ? $" = {r.Bytes / r.Work / 1e9:F2} GB/s" : "")}"));

    private static double CopySeconds(long bytes)
    {
        var source = new byte[bytes];
        var target = new byte[bytes];
        Random.Shared.NextBytes(source);
        var copies = new List<double>();
        for (int i = 0; i < 20; i++)
        {
            var clock = Stopwatch.StartNew();
            Buffer.BlockCopy(source, 0, target, 0, source.Length);
            copies.Add(clock.Elapsed.TotalSeconds);
        }
        return Median(copies);
    }

    private static double Median(IEnumerable<double> values) => Training.Bench.SampleMedian.Of(values);
}
