using System.Net;
using System.Net.Sockets;
using GrowLength.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using Polly;
using Polly.Retry;

namespace GrowLength.Client.Cli;

/// <summary>The cluster a command talks to: gateways given with --cluster, or a silo started in this process.</summary>
/// <remarks>The embedded silo is the same composition as src/Silo (UseGrowLengthSilo) with its folders under --home, so
/// runs, checkpoint records and the run registry survive restarts; its ports are free ones picked at start, so several
/// programs (and tests) can run side by side without meeting on 11111/30000.</remarks>
internal sealed class ClusterConnection : IAsyncDisposable
{
    /// <summary>Cluster errors worth another try: a gateway or silo briefly away, a call that timed out.</summary>
    private static readonly PredicateBuilder<object> Transient = new PredicateBuilder()
        .Handle<SiloUnavailableException>()
        .Handle<ConnectionFailedException>()
        .Handle<OrleansMessageRejectionException>()
        .Handle<GatewayTooBusyException>()
        .Handle<TimeoutException>();

    private readonly IHost host;

    private ClusterConnection(IHost host, string where, bool embedded, string homeFolder)
    {
        this.host = host;
        Where = where;
        Embedded = embedded;
        HomeFolder = homeFolder;
        Grains = host.Services.GetRequiredService<IClusterClient>();
    }

    public IClusterClient Grains { get; }

    /// <summary>"embedded silo" or the gateway list, for messages.</summary>
    public string Where { get; }

    public bool Embedded { get; }

    /// <summary>--home: the embedded silo's folders, and the corpus cache the client's evaluation uses.</summary>
    public string HomeFolder { get; }

    public string CorpusCacheFolder => Path.Combine(HomeFolder, "corpus");

    /// <summary>Retries idempotent calls (status, steps, lists) on transient errors: 4 tries over about 3 s.</summary>
    public static ResiliencePipeline Reads { get; } = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = Transient,
            MaxRetryAttempts = 3,
            Delay = TimeSpan.FromMilliseconds(250),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
        })
        .Build();

    /// <summary>Runs an idempotent cluster call with <see cref="Reads"/>.</summary>
    public static Task<T> Read<T>(Func<Task<T>> call) => Reads.ExecuteAsync(async _ => await call()).AsTask();

    /// <summary>Connects to the gateways, or starts an embedded silo when there are none. The embedded silo gets
    /// <paramref name="deviceSlots"/> slots (one worker each); a connection that fails throws ClusterUnavailableException.</summary>
    public static async Task<ClusterConnection> Open(IReadOnlyList<string> gateways, string homeFolder, int deviceSlots, CancellationToken cancel)
    {
        homeFolder = Path.GetFullPath(homeFolder);
        return gateways.Count == 0
            ? await StartEmbedded(homeFolder, deviceSlots, cancel)
            : await Connect(gateways.Select(ParseGateway).ToArray(), homeFolder, cancel);
    }

    private static async Task<ClusterConnection> StartEmbedded(string home, int deviceSlots, CancellationToken cancel)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{GrowLengthSiloOptions.Section}:StateFolder"] = Path.Combine(home, "state"),
            [$"{GrowLengthSiloOptions.Section}:CheckpointFolder"] = Path.Combine(home, "checkpoints"),
            [$"{GrowLengthSiloOptions.Section}:CorpusCacheFolder"] = Path.Combine(home, "corpus"),
            // Off unless asked for (GROWLENGTH__METRICSPORT=9464): several programs on one machine would fight over one port.
            [$"{GrowLengthSiloOptions.Section}:MetricsPort"] = "0",
        });
        // GROWLENGTH__DEVICEKIND=cuda and the like, as for src/Silo.
        builder.Configuration.AddEnvironmentVariables();
        ConfigureLogging(builder.Logging);
        builder.Services.AddSingleton<IHostLifetime, ProgramLifetime>();
        builder.UseGrowLengthSilo(o =>
        {
            o.SiloPort = FreePort();
            o.GatewayPort = FreePort();
            o.PrimarySiloEndpoint = null;
            o.AdvertisedAddress = null;
            o.DeviceSlots = Math.Max(o.DeviceSlots, deviceSlots);
        });
        var host = builder.Build();
        await host.StartAsync(cancel);
        return new ClusterConnection(host, "the embedded silo", embedded: true, home);
    }

    private static async Task<ClusterConnection> Connect(IPEndPoint[] gateways, string home, CancellationToken cancel)
    {
        var where = string.Join(", ", gateways.Select(g => g.ToString()));
        // A client host cannot be started twice, so each try builds a new one; Polly bounds the tries (3, each at most 4 s,
        // a refused connection fails at once) so "no cluster" is said within a few seconds.
        var connect = new ResiliencePipelineBuilder<IHost>()
            .AddRetry(new RetryStrategyOptions<IHost>
            {
                ShouldHandle = new PredicateBuilder<IHost>()
                    .Handle<SiloUnavailableException>().Handle<ConnectionFailedException>().Handle<OrleansMessageRejectionException>()
                    .Handle<GatewayTooBusyException>().Handle<TimeoutException>().Handle<SocketException>().Handle<OrleansException>(),
                MaxRetryAttempts = 2,
                Delay = TimeSpan.FromMilliseconds(500),
                BackoffType = DelayBackoffType.Exponential,
            })
            .AddTimeout(TimeSpan.FromSeconds(4)) // per try
            .Build();
        try
        {
            var host = await connect.ExecuteAsync(async ct =>
            {
                var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
                ConfigureLogging(builder.Logging);
                builder.Services.AddSingleton<IHostLifetime, ProgramLifetime>();
                builder.UseOrleansClient(client =>
                {
                    client.UseStaticClustering(gateways);
                    client.Configure<ClusterOptions>(o => { o.ClusterId = new GrowLengthSiloOptions().ClusterId; o.ServiceId = o.ClusterId; });
                    client.Configure<ConnectionOptions>(o => o.OpenConnectionTimeout = TimeSpan.FromSeconds(2));
                    // Orleans would otherwise keep retrying inside StartAsync; one attempt each, and Polly decides on more.
                    client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
                });
                var built = builder.Build();
                try
                {
                    await built.StartAsync(ct);
                    return built;
                }
                catch
                {
                    built.Dispose();
                    throw;
                }
            }, cancel);
            return new ClusterConnection(host, where, embedded: false, home);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancel.IsCancellationRequested)
        {
            throw new ClusterUnavailableException($"no GrowLength cluster at {where}: {Innermost(e).Message}", e);
        }
    }

    /// <summary>Library and silo messages on stdout, quiet: warnings and errors, plus corpus ingestion progress.</summary>
    private static void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddFilter("GrowLength.Training.Data", LogLevel.Information);
        // Orleans warns about its own connection attempts and shutdown races; the program says what matters itself.
        logging.AddFilter("Orleans", LogLevel.Error);
        logging.AddFilter("Microsoft", LogLevel.Error);
        // A failed start is reported by the program as one line (exit 3), not as the host's stack trace.
        logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
    }

    private static IPEndPoint ParseGateway(string text)
    {
        if (IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port != 0) return endpoint;
        var colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text[(colon + 1)..], out var port) && port is > 0 and < 65536)
        {
            var addresses = Dns.GetHostAddresses(text[..colon]);
            var address = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault();
            if (address is not null) return new IPEndPoint(address, port);
        }
        throw new Training.RunInputException("--cluster", $"'{text}' is not a gateway host:port such as 127.0.0.1:30000.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null && e is not SocketException) e = e.InnerException;
        return e;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await host.StopAsync(bounded.Token);
        }
        finally
        {
            host.Dispose();
        }
    }
}

/// <summary>The hosts live exactly as long as the command: Ctrl+C and SIGTERM are the program's (StopSignal asks the
/// run to stop gracefully, which needs the silo still up), not the host's default console lifetime's.</summary>
internal sealed class ProgramLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>No cluster answered at the given gateways (exit code 3).</summary>
internal sealed class ClusterUnavailableException(string message, Exception inner) : Exception(message, inner);
