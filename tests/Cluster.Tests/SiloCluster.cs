using GrowLength.Grains;
using GrowLength.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace GrowLength.Cluster.Tests;

/// <summary>The real silo processes of one test (under its own cluster id), the Orleans clients connected to them, and
/// the waits the silo-process tests share; every process and client goes on Dispose. Development clustering (each silo
/// joins the one it is given) unless <see cref="UsePostgres"/> put membership and state in a database.</summary>
internal sealed class SiloCluster(string fixtureRoot, ITestOutputHelper output) : IDisposable
{
    private string? postgres;

    /// <summary>Silos started from now on keep membership and grain state in this database; no silo is primary.</summary>
    public void UsePostgres(string connectionString) => postgres = connectionString;

    /// <summary>The settings that put a silo on this cluster's database (empty with development clustering).</summary>
    public string[] PostgresSettings => postgres is null ? [] : ["Clustering=postgres", $"PostgresConnection={postgres}"];

    private readonly List<SiloProcess> silos = [];
    private readonly List<IHost> clients = [];
    private readonly string clusterId = $"gl-{Guid.NewGuid():N}"[..16];
    private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();

    public void Log(string message) => output.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s  {message}");

    /// <summary>A folder of its own under the fixture's root, for one test's silos.</summary>
    public string Folder(string name)
    {
        var root = Path.Combine(fixtureRoot, name);
        Directory.CreateDirectory(root);
        return root;
    }

    public Task<SiloProcess> StartSilo(string name, string root, SiloProcess? primary = null, int slots = 1, params string[] settings) =>
        StartSiloUnder([], name, root, primary, slots, settings);

    /// <summary>A silo whose process <paramref name="launcher"/> starts (<see cref="SiloProcess.StartUnder"/>).</summary>
    public async Task<SiloProcess> StartSiloUnder(string[] launcher, string name, string root, SiloProcess? primary = null, int slots = 1, params string[] settings)
    {
        // With PostgreSQL every silo finds the others in the database: there is no silo to join.
        var silo = await SiloProcess.StartUnder(launcher, name, clusterId, root, postgres is null ? primary : null, slots, [.. PostgresSettings, .. settings]);
        silos.Add(silo);
        Log($"silo {name} started (pid {silo.Id}, port {silo.SiloPort})");
        return silo;
    }

    /// <summary>An Orleans client of the given silos' gateways (a fresh one after a restart: the old gateways are gone).</summary>
    public async Task<IClusterClient> Connect(params SiloProcess[] gateways)
    {
        var host = new HostBuilder()
            .UseOrleansClient(client => client.UseLocalhostClustering(gateways.Select(s => s.GatewayPort).ToArray(), clusterId, clusterId))
            .Build();
        clients.Add(host);
        await host.StartAsync();
        Log("client connected");
        return host.Services.GetRequiredService<IClusterClient>();
    }

    public static Task WaitForSilos(IGrainFactory grains, int count) =>
        ActiveSilos.WaitUntil(grains, active => active >= count, $"waiting for {count} active silos");

    /// <summary>Polls until the run ends or <paramref name="until"/> holds (2 minutes at most unless <paramref name="limit"/>
    /// says otherwise); a status call lost to a dying silo is asked again.</summary>
    public async Task<RunStatus> WaitWhileRunning(IScheduleCoordinatorGrain coordinator, Func<RunStatus, bool>? until = null, TimeSpan? limit = null)
    {
        var wait = limit ?? TimeSpan.FromMinutes(2);
        var deadline = DateTime.UtcNow + wait;
        RunStatus? status = null;
        while (true)
        {
            try
            {
                status = await coordinator.Status();
                if (status.Lifecycle is not (RunLifecycle.Running or RunLifecycle.Stopping) || until?.Invoke(status) == true) return status;
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                Log($"status: {e.Message}");
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"run still {status?.Lifecycle} at step {status?.Step} after {wait.TotalSeconds:F0} s\n{Outputs()}");
            await Task.Delay(10);
        }
    }

    /// <summary>The end of every silo's output, for failure messages.</summary>
    public string Outputs() => string.Join("\n", silos.Select(s => $"---- silo {s.Name} (pid {s.Id}) ----\n{string.Join('\n', s.Output.Split('\n').TakeLast(60))}"));

    public void Dispose()
    {
        // Kill the silos first: a client stops quickly once its gateways are gone.
        foreach (var silo in silos) silo.Dispose();
        foreach (var client in clients)
        {
            try
            {
                client.StopAsync().Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
                // Its gateways are gone; nothing to stop cleanly.
            }
            client.Dispose();
        }
    }
}
