using System.Diagnostics;
using System.Globalization;
using GrowLength.Grains;
using GrowLength.Grains.Hosting;
using GrowLength.Training.Model;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using Orleans.TestingHost;
using GrowLength.Tests.Shared;

// Usage: GrowLength.Cluster.Bench [model preset = cpu-small] [steps = 12] [chunk MB = 4]
// Trains a real 2-worker run on one in-process silo with two device slots (fixed length 128, 1,024 tokens a step so the
// exchange is a large share of the step) and reports, per step, the exchange time of the rank that waited for no peer
// (close to pure transfer) against a plain memory copy of the same gradient bytes.
// Usage: GrowLength.Cluster.Bench overhead [steps = 10] [rounds = 3] [lengths = 128,2048] [tokens per step = 16384]
// The actor layer's cost: one Orleans worker (in-process silo) against the bare Trainer, cpu-demo model, alternated A/B.
if (args.Length > 0 && args[0] == "overhead")
{
    await GrowLength.Cluster.Bench.OverheadBench.Run(
        args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10,
        args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3,
        args.Length > 3 ? args[3].Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray() : [128, 2048],
        args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 16384);
    return;
}
var preset = args.Length > 0 ? args[0] : "cpu-small";
var steps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 12;
var chunkMb = args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 4;
var root = Path.Combine(Path.GetTempPath(), $"growlength-bench-{Guid.NewGuid():N}");
var corpus = TinyCorpus.Write(Path.Combine(root, "corpus"), documents: 48, sentences: 60);
var spec = RunSpecPresets.Tiny() with
{
    Name = "bench",
    Model = ModelPresets.ByName(preset),
    Data = new DataConfig { Path = corpus, ValidationFraction = 0.1 },
    Schedule = new ScheduleConfig { Kind = "fixed", MinLength = 128, MaxLength = 128, GlobalBatchTokens = 1024, MicroBatchTokens = 1024 },
    Budget = new BudgetConfig { Tokens = 1024L * steps },
    Optimizer = new OptimizerConfig { PeakLearningRate = 1e-3, WarmupTokens = 1024 },
    Checkpoint = new CheckpointConfig { EverySteps = 0, AtStageTransitions = false, KeepLast = 1 },
};
var options = new GrowLengthSiloOptions
{
    StateFolder = Path.Combine(root, "state"), CheckpointFolder = Path.Combine(root, "checkpoints"),
    CorpusCacheFolder = Path.Combine(root, "cache"), DeviceSlots = 2, GradientChunkBytes = (int)(chunkMb * (1 << 20)),
};
var builder = new InProcessTestClusterBuilder(1);
builder.ConfigureSilo((_, silo) => silo.AddGrowLength(options));
await using var cluster = builder.Build();
await cluster.DeployAsync();
try
{
    var coordinator = cluster.Client.GetGrain<IScheduleCoordinatorGrain>("bench");
    await coordinator.Create(new CreateRun(RunSpecJson.ToJson(spec)));
    await coordinator.Start(new StartRun(2));
    RunStatus status;
    do { await Task.Delay(100); status = await coordinator.Status(); } while (status.Lifecycle is RunLifecycle.Running or RunLifecycle.Stopping);
    if (status.Lifecycle != RunLifecycle.Completed) throw new InvalidOperationException($"{status.Lifecycle}: {status.Reason}");
    var records = (await coordinator.Steps(0)).Skip(2).ToArray(); // the first steps warm up libtorch and the grains

    using var probe = new GrowLength.Training.Engine.StepEngine(spec.Model with { VocabSize = 257 }, 1);
    long bytes = probe.Parameters.Count * sizeof(float);
    var source = new byte[bytes];
    var target = new byte[bytes];
    Random.Shared.NextBytes(source);
    var copies = new List<double>();
    for (int i = 0; i < 20; i++)
    {
        var sw = Stopwatch.StartNew();
        Buffer.BlockCopy(source, 0, target, 0, source.Length);
        copies.Add(sw.Elapsed.TotalSeconds);
    }
    static double Median(IEnumerable<double> xs) { var a = xs.Order().ToArray(); return a[a.Length / 2]; }
    var transfer = Median(records.Select(r => r.ExchangeTransferSeconds));
    var slowest = Median(records.Select(r => r.ExchangeSeconds));
    var step = Median(records.Select(r => r.StepSeconds));
    var copy = Median(copies);
    Console.WriteLine($"model {preset}: {probe.Parameters.Count:N0} parameters, gradient {bytes / 1e6:F1} MB; chunks of {chunkMb} MB; {records.Length} steps measured");
    Console.WriteLine($"exchange, rank that waited for no peer (median): {transfer * 1e3:F1} ms = {bytes / transfer / 1e9:F2} GB/s of gradient");
    Console.WriteLine($"exchange, slowest rank incl. waiting for the peer's backward (median): {slowest * 1e3:F1} ms");
    Console.WriteLine($"plain copy of the same bytes (median of 20): {copy * 1e3:F2} ms = {bytes / copy / 1e9:F2} GB/s");
    Console.WriteLine($"data wait, slowest rank (median): {Median(records.Select(r => r.DataWaitSeconds)) * 1e3:F2} ms (rows prefetched by the data shard)");
    Console.WriteLine($"step (median): {step * 1e3:F0} ms; exchange share {transfer / step:P0}; ratio exchange/copy {transfer / copy:F0}x");
}
finally
{
    try { Directory.Delete(root, recursive: true); } catch (IOException) { }
}
