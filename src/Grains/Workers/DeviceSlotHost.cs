using GrowLength.Training.Bench;
using GrowLength.Training.Telemetry;
using GrowLength.Grains.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;

namespace GrowLength.Grains.Workers;

/// <summary>Owns this silo's compute slots and the training threads on them: one <see cref="WorkerLoop"/> per busy slot.
/// Worker grains start and signal loops here; loops never run on the Orleans scheduler.</summary>
public sealed class DeviceSlotHost(IOptions<GrowLengthSiloOptions> options, IGrainFactory grains, ILocalSiloDetails silo, ILoggerFactory loggers, TrainingMetrics metrics)
    : IHostedService
{
    private readonly GrowLengthSiloOptions settings = options.Value;
    private readonly ILogger logger = loggers.CreateLogger<DeviceSlotHost>();
    private readonly Dictionary<string, WorkerLoop> loops = new(StringComparer.Ordinal);

    // MFU's denominator, measured once per silo on first use and only when metrics are exported (it takes a second of compute).
    private readonly Lazy<double> matmulRate = new(() => options.Value.MetricsPort > 0
        ? MatmulRate.Measure(options.Value.DeviceKind == "cuda" ? CUDA : CPU, seconds: 1) : 0);
    private bool stopping;

    /// <summary>This silo, as workers report it.</summary>
    public string SiloName => silo.SiloAddress.ToString();

    /// <summary>The silo's TLS identity, read once; null without TLS. The gradient data plane secures its connections with it.</summary>
    internal ClusterCertificates? Tls => tls.Value;

    private readonly Lazy<ClusterCertificates?> tls = new(() => options.Value.Tls());

    /// <summary>Compute slots this silo offers.</summary>
    public int Slots => settings.DeviceSlots;

    /// <summary>Starts the loop of an assignment on a free slot, replacing a loop of an older epoch for the same worker.</summary>
    internal WorkerInfo Start(WorkerAssignment assignment)
    {
        var asked = System.Diagnostics.Stopwatch.StartNew();
        var key = WorkerKeys.For(assignment.RunId, assignment.Worker);
        WorkerLoop? old;
        lock (loops)
        {
            if (stopping) throw new InvalidOperationException($"silo {SiloName} is shutting down");
            loops.Remove(key, out old);
        }
        if (old is not null)
        {
            old.Cancel();
            if (!old.Join(TimeSpan.FromSeconds(60)))
                throw new InvalidOperationException($"the previous loop of worker {key} (epoch {old.Epoch}) did not stop within 60 s");
        }
        // A slot held by a loop that is ending (told to a moment ago, or done with a stop that a resume now follows) frees
        // within seconds: wait for that rather than refuse, or a coordinator retrying a start would find this silo full.
        WorkerLoop[] ending;
        bool full;
        lock (loops)
        {
            ending = [.. loops.Values.Where(l => l.IsRunning && l.Ending)];
            full = loops.Values.Count(l => l.IsRunning) >= settings.DeviceSlots;
        }
        if (full)
            foreach (var loop in ending) loop.Join(TimeSpan.FromSeconds(30));
        lock (loops)
        {
            var busy = loops.Values.Where(l => l.IsRunning).Select(l => l.Slot).ToHashSet();
            var slot = Enumerable.Range(0, settings.DeviceSlots).Cast<int?>().FirstOrDefault(s => !busy.Contains(s!.Value))
                ?? throw new InvalidOperationException($"silo {SiloName} has {settings.DeviceSlots} device slot(s), all busy; add a silo or slots (GrowLength:DeviceSlots), or run fewer workers");
            var device = settings.DeviceKind == "cuda" ? new Device($"cuda:{slot}") : CPU;
            var loop = new WorkerLoop(assignment, slot, device, grains, loggers.CreateLogger<WorkerLoop>(), Exited, metrics, () => matmulRate.Value,
                Failpoint.Parse(settings.KillAt), new ExchangeSettings(settings.OverlapGradientExchange, settings.InterleaveGradientBuckets,
                    settings.PoolGradientChunks ? GradientChunkPool.Shared : null, new DataPlaneAccess(SiloName, settings.ExchangePort >= 0, Tls)));
            loops[key] = loop;
            loop.Start();
            logger.LogInformation("Worker {Key} (epoch {Epoch}) started on slot {Slot} ({Device}) of {Silo} in {Seconds:F1} s", key, assignment.Membership?.Epoch, slot, device, SiloName,
                asked.Elapsed.TotalSeconds);
            return new WorkerInfo(assignment.Membership?.RankOf(assignment.Worker) ?? -1, SiloName, device.ToString(), assignment.Joins ? WorkerState.Joining : WorkerState.Training, assignment.Worker);
        }
    }

    /// <summary>The running loop of a worker on this silo, or null.</summary>
    internal WorkerLoop? Find(string key)
    {
        lock (loops) return loops.GetValueOrDefault(key);
    }

    // A finished loop stays listed (its status answers questions) but frees its slot.
    private void Exited(WorkerLoop loop) =>
        logger.LogInformation("Worker {Worker} of {Run} (epoch {Epoch}) left slot {Slot}", loop.Assignment.Worker, loop.Assignment.RunId, loop.Epoch, loop.Slot);

    /// <summary>Loads libtorch now, beside the silo's start, rather than in the first worker's start, which a coordinator
    /// waits for with a deadline (the native library took 0.5–0.9 s to load with the cores busy). A worker that starts
    /// meanwhile waits for the same load (the runtime initialises the type once).</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = Task.Run(() =>
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                using var scope = NewDisposeScope();
                _ = ones(1, device: settings.DeviceKind == "cuda" ? CUDA : CPU).sum().item<float>();
                logger.LogInformation("libtorch loaded on silo {Silo} in {Seconds:F1} s", SiloName, started.Elapsed.TotalSeconds);
            }
            catch (Exception e)
            {
                // The first worker's start meets the same problem and reports it to the run.
                logger.LogWarning("Could not load libtorch on silo {Silo}: {Problem}", SiloName, e.Message);
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Ends every loop, each telling its run's coordinator it leaves (so the run goes on without it), and waits for
    /// the threads (a step mid-compute finishes first).</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        List<WorkerLoop> all;
        lock (loops) { stopping = true; all = [.. loops.Values]; }
        foreach (var loop in all) loop.Cancel(leave: true);
        foreach (var loop in all)
            if (!loop.Join(TimeSpan.FromSeconds(30)))
                logger.LogWarning("Worker loop {Worker} did not stop within 30 s", loop.Assignment.Worker);
        return Task.CompletedTask;
    }
}
