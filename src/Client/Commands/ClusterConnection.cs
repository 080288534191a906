using System.Net;
using System.Net.Sockets;
using GrowLength.Grains.Hosting;
using GrowLength.Grains.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace GrowLength.Client.Commands;

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

    /// <summary>The bound of one connection attempt to a gateway.</summary>
    private static readonly TimeSpan ConnectTry = TimeSpan.FromSeconds(4);

    /// <summary>How long a program waits for another process that holds its home to answer (it may be starting or stopping).</summary>
    private static readonly TimeSpan HomeOwnerWait = TimeSpan.FromSeconds(60);

    private readonly IHost host;

    private ClusterConnection(IHost host, string where, bool viaHome, string homeFolder)
    {
        this.host = host;
        Where = where;
        ViaHome = viaHome;
        HomeFolder = homeFolder;
        Grains = host.Services.GetRequiredService<IClusterClient>();
    }

    public IClusterClient Grains { get; }

    /// <summary>"the embedded silo", "the silo of process N on home H", or the gateway list, for messages.</summary>
    public string Where { get; }

    /// <summary>Reached through --home (this process's silo or that of the process that holds the home), not --cluster.</summary>
    public bool ViaHome { get; }

    /// <summary>--home: the embedded silo's folders, and the corpus cache the client's evaluation uses.</summary>
    public string HomeFolder { get; }

    public string CorpusCacheFolder => Path.Combine(HomeFolder, "corpus");

    /// <summary>The bounds on corpora this program packs itself (the final evaluation's), as the home's embedded silo has them.</summary>
    public Training.Data.CorpusLimits CorpusLimits => CorpusLimitsFor(HomeFolder);

    /// <summary>The embedded silo's corpus bounds for <paramref name="home"/> (GROWLENGTH__MAXDOCUMENTBYTES,
    /// GROWLENGTH__CORPUSCACHEMAXBYTES), so a corpus the client packs for evaluation meets the same bounds as the silo's.</summary>
    public static Training.Data.CorpusLimits CorpusLimitsFor(string home) =>
        (EmbeddedSettings(Path.GetFullPath(home)).GetSection(GrowLengthSiloOptions.Section).Get<GrowLengthSiloOptions>() ?? new GrowLengthSiloOptions()).CorpusLimits.Validated();

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

    /// <summary>Connects to the gateways, or, when there are none, to the one silo of the home: the silo of the process
    /// that holds the home's state folder, or one started in this process (with <paramref name="deviceSlots"/> slots,
    /// one worker each) when no process does. <paramref name="tls"/>: this client's certificates for gateways that require
    /// mutual TLS (not used for the home's silo, which is on loopback without TLS). A connection that fails throws
    /// ClusterUnavailableException, saying so when TLS was the cause.</summary>
    public static async Task<ClusterConnection> Open(IReadOnlyList<string> gateways, string homeFolder, int deviceSlots, ClusterCertificates? tls, CancellationToken cancel)
    {
        homeFolder = Path.GetFullPath(homeFolder);
        if (gateways.Count > 0)
        {
            var endpoints = gateways.Select(ParseGateway).ToArray();
            return await Connect(endpoints, new GrowLengthSiloOptions().ClusterId, string.Join(", ", endpoints.Select(g => g.ToString())), viaHome: false, homeFolder, tries: 3, tls, cancel);
        }
        return await OpenHome(homeFolder, deviceSlots, cancel);
    }

    /// <summary>One silo per home. The program that finds the home's state folder free takes it (an OS lock, released
    /// when the process ends however it ends) and starts the silo in-process; every other program on that home is a
    /// client of that silo, at the gateway its owner wrote down. Two silos on one state folder would both run the same
    /// run's coordinator, and each would fail the other's run.</summary>
    private static async Task<ClusterConnection> OpenHome(string home, int deviceSlots, CancellationToken cancel)
    {
        var settings = EmbeddedSettings(home);
        var stateFolder = Path.GetFullPath(settings.GetSection(GrowLengthSiloOptions.Section).Get<GrowLengthSiloOptions>()?.StateFolder ?? Path.Combine(home, "state"));
        var deadline = DateTime.UtcNow + HomeOwnerWait;
        while (true)
        {
            if (StateFolderOwnership.TryAcquire(stateFolder) is { } hold)
            {
                // Held until the silo holds it too: no other program can take the home in between.
                using (hold) return await StartEmbedded(settings, home, deviceSlots, cancel);
            }
            var owner = StateFolderOwnership.ReadOwner(stateFolder);
            if (owner is { Tls: true })
                // Its gateway takes only clients with a certificate, and a program reaches a home's silo without one.
                throw new ClusterUnavailableException(
                    $"home {home} is held by process {owner.Pid}, a silo with mutual TLS: connect with --cluster {owner.Gateway} and --tls-cert, --tls-key, --tls-ca",
                    new InvalidOperationException("the home's silo requires TLS"));
            if (owner is not null)
            {
                try
                {
                    return await Connect([StateFolderOwnership.Endpoint(owner.Gateway)], owner.ClusterId,
                        $"the silo of process {owner.Pid} (home {home})", viaHome: true, home, tries: 1, tls: null, cancel);
                }
                catch (ClusterUnavailableException) when (DateTime.UtcNow < deadline)
                {
                    // Its silo is stopping (the home is about to be free) or not answering yet: look again.
                }
            }
            if (DateTime.UtcNow > deadline)
                throw new ClusterUnavailableException(
                    $"home {home} is held by another growlength process{(owner is null ? "" : $" (pid {owner.Pid}, gateway {owner.Gateway})")} whose silo did not answer within {HomeOwnerWait.TotalSeconds:F0} s",
                    new TimeoutException($"no answer from the silo that holds {stateFolder}"));
            await Task.Delay(250, cancel);
        }
    }

    /// <summary>The embedded silo's settings: its folders under the home, then GROWLENGTH__* variables (as for src/Silo).</summary>
    private static IConfiguration EmbeddedSettings(string home) => new ConfigurationBuilder()
        .AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{GrowLengthSiloOptions.Section}:StateFolder"] = Path.Combine(home, "state"),
            [$"{GrowLengthSiloOptions.Section}:CheckpointFolder"] = Path.Combine(home, "checkpoints"),
            [$"{GrowLengthSiloOptions.Section}:CorpusCacheFolder"] = Path.Combine(home, "corpus"),
            // Off unless asked for (GROWLENGTH__METRICSPORT=9464): several programs on one machine would fight over one port.
            [$"{GrowLengthSiloOptions.Section}:MetricsPort"] = "0",
        })
        .AddEnvironmentVariables()
        .Build();

    private static async Task<ClusterConnection> StartEmbedded(IConfiguration settings, string home, int deviceSlots, CancellationToken cancel)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddConfiguration(settings);
        ConfigureLogging(builder.Logging);
        builder.Services.AddSingleton<IHostLifetime, ProgramLifetime>();
        builder.UseGrowLengthSilo(o =>
        {
            o.SiloPort = FreePort();
            o.GatewayPort = FreePort();
            // One process's own silo: on loopback and without TLS, whatever GROWLENGTH__* variables meant for a deployed silo say.
            o.PrimarySiloEndpoint = null;
            o.AdvertisedAddress = null;
            // It runs as the user, for the user alone (loopback): any file the user can read is theirs to train on.
            o.ConfinePaths = false;
            o.ListenOnAllInterfaces = false;
            o.TlsCertificate = o.TlsKey = o.TlsAuthority = null;
            o.MetricsHost = "127.0.0.1";
            o.DashboardHost = "127.0.0.1";
            o.DeviceSlots = Math.Max(o.DeviceSlots, deviceSlots);
        });
        var host = builder.Build();
        await host.StartAsync(cancel);
        return new ClusterConnection(host, "the embedded silo", viaHome: true, home);
    }

    private static async Task<ClusterConnection> Connect(IPEndPoint[] gateways, string clusterId, string where, bool viaHome, string home, int tries,
        ClusterCertificates? tls, CancellationToken cancel)
    {
        // A client host cannot be started twice, so each try builds a new one; Polly bounds the tries (each at most 4 s,
        // a refused connection fails at once) so "no cluster" is said within a few seconds.
        var pipeline = new ResiliencePipelineBuilder<IHost>();
        if (tries > 1)
            pipeline.AddRetry(new RetryStrategyOptions<IHost>
            {
                ShouldHandle = new PredicateBuilder<IHost>()
                    .Handle<SiloUnavailableException>().Handle<ConnectionFailedException>().Handle<OrleansMessageRejectionException>()
                    .Handle<GatewayTooBusyException>().Handle<TimeoutException>().Handle<SocketException>().Handle<OrleansException>()
                    // The per-try timeout below: a gateway that is slow to answer (a loaded machine, a silo starting a run) is tried again.
                    .Handle<TimeoutRejectedException>(),
                MaxRetryAttempts = tries - 1,
                Delay = TimeSpan.FromMilliseconds(500),
                BackoffType = DelayBackoffType.Exponential,
            });
        var connect = pipeline.AddTimeout(ConnectTry).Build();
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
                    client.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = clusterId; });
                    client.Configure<ConnectionOptions>(o => o.OpenConnectionTimeout = TimeSpan.FromSeconds(2));
                    // Orleans would otherwise keep retrying inside StartAsync; one attempt each, and Polly decides on more.
                    client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
                    if (tls is not null) client.UseTls(tls.Configure);
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
            return new ClusterConnection(host, where, viaHome, home);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancel.IsCancellationRequested)
        {
            // The home's silo is on loopback without TLS; a gateway given with --cluster may want TLS the client lacks.
            if (!viaHome && await GatewayTlsProbe.Explain(gateways[0], tls, ConnectTry, cancel) is { } tlsProblem)
                throw new ClusterUnavailableException($"cannot connect to the cluster at {where}: TLS: {tlsProblem}", e);
            var why = e is TimeoutRejectedException ? $"no answer within {ConnectTry.TotalSeconds:F0} s" : Innermost(e).Message;
            throw new ClusterUnavailableException($"no GrowLength cluster at {where}: {why}", e);
        }
    }

    /// <summary>Library and silo messages, quiet: warnings and errors on stderr (beside the command's own error line), and
    /// corpus ingestion progress on stdout with the command's output. Commands whose stdout a script parses
    /// (`status --json`, `list --json`) ingest nothing.</summary>
    private static void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        logging.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Warning);
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
