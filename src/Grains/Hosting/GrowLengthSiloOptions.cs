using System.Net;
using System.Net.Sockets;
using GrowLength.Training.Data;

namespace GrowLength.Grains.Hosting;

/// <summary>Host settings of one silo (section <c>GrowLength</c>; environment <c>GROWLENGTH__KEY</c>; command line <c>--GrowLength:Key=value</c>).
/// Training settings are not here: they are the run spec.</summary>
public sealed partial class GrowLengthSiloOptions
{
    /// <summary>The configuration section these bind from.</summary>
    public const string Section = "GrowLength";

    /// <summary>Silo-to-silo port.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Client gateway port.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>host:port of the primary silo to join; empty makes this silo the primary.</summary>
    public string? PrimarySiloEndpoint { get; set; }

    /// <summary>IP address or host name (resolved at start to its first IPv4 address) other machines reach this silo at;
    /// the silo and gateway ports listen on that address only (every interface with <see cref="ListenOnAllInterfaces"/>).
    /// Empty keeps the cluster on localhost (one machine).</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>With <see cref="AdvertisedAddress"/>: the silo and gateway ports listen on every interface, not only on
    /// that address (a container whose published ports arrive on another interface, a machine with several networks).</summary>
    public bool ListenOnAllInterfaces { get; set; }

    /// <summary>PEM certificate of this silo. With <see cref="TlsKey"/> and <see cref="TlsAuthority"/> (all three or none)
    /// every silo-to-silo and client-to-gateway connection is mutual TLS: each side presents its certificate and accepts
    /// the other's only when <see cref="TlsAuthority"/> signed it.</summary>
    public string? TlsCertificate { get; set; }

    /// <summary>PEM private key of <see cref="TlsCertificate"/> (unencrypted; keep it mode 0600).</summary>
    public string? TlsKey { get; set; }

    /// <summary>PEM certificate of the cluster's certificate authority, which every peer's certificate must chain to.</summary>
    public string? TlsAuthority { get; set; }

    /// <summary>True when <see cref="TlsCertificate"/>, <see cref="TlsKey"/> and <see cref="TlsAuthority"/> are set.</summary>
    public bool UsesTls => !string.IsNullOrWhiteSpace(TlsCertificate);

    /// <summary>Where membership and grain state live: <c>development</c> (the default: membership in the first silo, state
    /// as files under <see cref="StateFolder"/>; one machine) or <c>postgres</c> (both in PostgreSQL at
    /// <see cref="PostgresConnection"/>: any silo may die, the first one included).</summary>
    public string Clustering { get; set; } = DevelopmentClustering;

    /// <summary>The <see cref="Clustering"/> value of the embedded default.</summary>
    public const string DevelopmentClustering = "development";

    /// <summary>The <see cref="Clustering"/> value that keeps membership and state in PostgreSQL.</summary>
    public const string PostgresClustering = "postgres";

    /// <summary>Npgsql connection string of the cluster's PostgreSQL database (with <c>Clustering=postgres</c>), e.g.
    /// <c>Host=db;Port=5432;Username=growlength;Password=...;Database=growlength</c>; also from GROWLENGTH__POSTGRESCONNECTION.</summary>
    public string? PostgresConnection { get; set; }

    /// <summary>How long a starting silo keeps trying to reach PostgreSQL (and apply the schema) before it gives up.</summary>
    public int DatabaseStartSeconds { get; set; } = 30;

    /// <summary>True when membership and state live in PostgreSQL.</summary>
    public bool UsesPostgres => Clustering == PostgresClustering;

    /// <summary>Cluster id; silos with the same id form one cluster.</summary>
    public string ClusterId { get; set; } = "growlength";

    /// <summary>Durable grain state (runs, checkpoint manifests, the run registry): one JSON file per grain.</summary>
    public string StateFolder { get; set; } = ".growlength/state";

    /// <summary>Checkpoints, one sub-folder per run. Shared storage when a run spans machines.</summary>
    public string CheckpointFolder { get; set; } = ".growlength/checkpoints";

    /// <summary>Packed corpora; every silo of a machine can share it.</summary>
    public string CorpusCacheFolder { get; set; } = ".growlength/corpus";

    /// <summary>Folders a run spec's files (<c>data.path</c>) must lie under, separated by ':' (e.g.
    /// <c>/srv/corpora:/home/ml/data</c>). Empty: this silo's own home, the folders that hold its
    /// <see cref="StateFolder"/>, <see cref="CheckpointFolder"/> and <see cref="CorpusCacheFolder"/>. The default corpus
    /// (an empty <c>data.path</c>) is always allowed.</summary>
    public string? PathRoots { get; set; }

    /// <summary>False lets run specs name any file this silo's user can read: what the silo embedded in the growlength
    /// program does, since it runs as the user on the user's behalf. A silo other clients reach keeps it true.</summary>
    public bool ConfinePaths { get; set; } = true;

    /// <summary>Where run specs may point this silo: <see cref="PathRoots"/>, or anywhere when <see cref="ConfinePaths"/> is false.</summary>
    public PathConfinement RunFileRoots() => !ConfinePaths
        ? PathConfinement.Anywhere
        : new PathConfinement(
            string.IsNullOrWhiteSpace(PathRoots)
                ? new[] { StateFolder, CheckpointFolder, CorpusCacheFolder }.Select(f => Path.GetDirectoryName(Path.GetFullPath(f))!)
                : ListedRoots(),
            string.IsNullOrWhiteSpace(PathRoots) ? $"{Section}:PathRoots (empty: the folders holding this silo's state, checkpoint and corpus folders)" : $"{Section}:PathRoots");

    private string[] ListedRoots() => (PathRoots ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The most bytes one document of a corpus may have (a .jsonl line, a text file); a longer one fails the run's
    /// creation, naming the file and line. A silo setting, not a spec one: a spec's author must not raise it on a shared silo.</summary>
    public long MaxDocumentBytes { get; set; } = Training.Data.CorpusLimits.DefaultMaxDocumentBytes;

    /// <summary>The most bytes <see cref="CorpusCacheFolder"/> may hold after a corpus is packed into it (0: no limit); a corpus
    /// that may not fit is refused before anything is written.</summary>
    public long CorpusCacheMaxBytes { get; set; } = Training.Data.CorpusLimits.DefaultCacheMaxBytes;

    /// <summary><see cref="MaxDocumentBytes"/> and <see cref="CorpusCacheMaxBytes"/> as the corpus code takes them.</summary>
    public Training.Data.CorpusLimits CorpusLimits => new(MaxDocumentBytes, CorpusCacheMaxBytes);

    /// <summary>Compute slots this silo offers: one worker each.</summary>
    public int DeviceSlots { get; set; } = 1;

    /// <summary>cpu or cuda (slot i uses cuda:i).</summary>
    public string DeviceKind { get; set; } = "cpu";

    /// <summary>Bytes per gradient chunk message (1–16 MB messages moved fastest over Orleans when measured; 64 MB collapsed to a tenth of the rate).</summary>
    public int GradientChunkBytes { get; set; } = 4 << 20;

    /// <summary>TCP port of the gradient data plane (<see cref="Workers.GradientListener"/>), on the silo's address: 0 takes
    /// any free port (peers learn it through a grain call), -1 turns the data plane off and chunks go as grain calls.</summary>
    public int ExchangePort { get; set; }

    /// <summary>Exchange each block's gradient while backward computes the blocks before it (PyTorch DDP's overlap); false
    /// waits for the whole backward pass first. Only when, not what: workers with either setting exchange with each other.</summary>
    public bool OverlapGradientExchange { get; set; } = true;

    /// <summary>Reuse gradient-chunk arrays (<see cref="Workers.GradientChunkPool"/>); false allocates a fresh array for every
    /// chunk sent, as before the pool (kept to measure the pool against).</summary>
    public bool PoolGradientChunks { get; set; } = true;

    /// <summary>The ring works on every bucket it has started whose next chunk is here; false takes the buckets one at a
    /// time, each through all its rounds, as before (kept to measure against). The sums are the same either way.</summary>
    public bool InterleaveGradientBuckets { get; set; } = true;

    /// <summary>Port of the Prometheus metrics endpoint (http://MetricsHost:MetricsPort/metrics); 0 turns it off.</summary>
    public int MetricsPort { get; set; } = 9464;

    /// <summary>Address the metrics endpoint binds to: loopback by default, so metrics are not exposed off the machine.</summary>
    public string MetricsHost { get; set; } = "127.0.0.1";

    /// <summary>Why <paramref name="host"/> cannot be <see cref="MetricsHost"/>, or null. The Prometheus exporter's
    /// HttpListener takes one address or host name (requests must name it in their Host header, as a scrape of
    /// host:port does) and fails at start on a wildcard, with a stack trace instead of a message.</summary>
    public static string? MetricsHostProblem(string? host) =>
        string.IsNullOrWhiteSpace(host) || host is "0.0.0.0" or "::" or "[::]" or "*" or "+"
            ? $"'{host}' cannot be listened on: give one address or host name of this machine, the one Prometheus scrapes (127.0.0.1, the default, keeps metrics on it)."
            : null;

    /// <summary>A failpoint for tests and chaos drills: "STEP:PHASE" SIGKILLs this silo when one of its workers reaches that
    /// point of that step (phases: backward, reduce, gather, reported, commit). Empty (the default) turns it off.</summary>
    public string? KillAt { get; set; }

    /// <summary>Step records the coordinator keeps for status and watch.</summary>
    public int RecentSteps { get; set; } = 512;

    /// <summary>Throws <see cref="RunRequestException"/> naming the first bad setting.</summary>
    public GrowLengthSiloOptions Validated()
    {
        if (DeviceSlots < 0) throw new RunRequestException($"{Section}:DeviceSlots", $"must be 0 or more (is {DeviceSlots}).");
        if (DeviceKind is not ("cpu" or "cuda")) throw new RunRequestException($"{Section}:DeviceKind", $"'{DeviceKind}' is not cpu or cuda.");
        if (MetricsPort is < 0 or > 65535) throw new RunRequestException($"{Section}:MetricsPort", $"must be a port number, or 0 to turn metrics off (is {MetricsPort}).");
        if (ExchangePort is < -1 or > 65535)
            throw new RunRequestException($"{Section}:ExchangePort", $"must be a port number, 0 for any free port, or -1 to send gradient chunks as grain calls (is {ExchangePort}).");
        if (GradientChunkBytes < 4096 || GradientChunkBytes % 4 != 0)
            throw new RunRequestException($"{Section}:GradientChunkBytes", $"must be a multiple of 4 of at least 4096 (is {GradientChunkBytes}).");
        Workers.Failpoint.Parse(KillAt);
        if (Clustering is not (DevelopmentClustering or PostgresClustering))
            throw new RunRequestException($"{Section}:Clustering", $"'{Clustering}' is not {DevelopmentClustering} or {PostgresClustering}.");
        if (UsesPostgres)
        {
            if (string.IsNullOrWhiteSpace(PostgresConnection))
                throw new RunRequestException($"{Section}:PostgresConnection",
                    $"is required with {Section}:Clustering={PostgresClustering}: an Npgsql connection string such as Host=127.0.0.1;Port=5432;Username=growlength;Database=growlength (or GROWLENGTH__POSTGRESCONNECTION).");
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(PostgresConnection);
            }
            catch (ArgumentException e)
            {
                throw new RunRequestException($"{Section}:PostgresConnection", $"is not an Npgsql connection string: {e.Message}");
            }
            if (!string.IsNullOrWhiteSpace(PrimarySiloEndpoint))
                throw new RunRequestException($"{Section}:PrimarySiloEndpoint",
                    $"is for {DevelopmentClustering} clustering; with {PostgresClustering} every silo finds the others in the database: leave it empty.");
        }
        if (DatabaseStartSeconds is < 1 or > 3600) throw new RunRequestException($"{Section}:DatabaseStartSeconds", $"must be 1 to 3600 (is {DatabaseStartSeconds}).");
        foreach (var (name, value) in new[] { ("StateFolder", StateFolder), ("CheckpointFolder", CheckpointFolder), ("CorpusCacheFolder", CorpusCacheFolder) })
            if (string.IsNullOrWhiteSpace(value)) throw new RunRequestException($"{Section}:{name}", "must name a folder.");
        if (ConfinePaths && !string.IsNullOrWhiteSpace(PathRoots)
            && ListedRoots().FirstOrDefault(r => !Path.IsPathRooted(r)) is { } relative)
            throw new RunRequestException($"{Section}:PathRoots", $"'{relative}' is not an absolute path; give absolute folders separated by ':'.");

        try
        {
            CorpusLimits.Validated();
        }
        catch (Training.RunInputException e)
        {
            throw InputErrors.ToRequest(e);
        }
        if (MetricsPort != 0 && MetricsHostProblem(MetricsHost) is { } metricsHost)
            throw new RunRequestException($"{Section}:MetricsHost", metricsHost);
        _ = AdvertisedIp();
        if (ListenOnAllInterfaces && string.IsNullOrWhiteSpace(AdvertisedAddress))
            throw new RunRequestException($"{Section}:ListenOnAllInterfaces",
                $"needs {Section}:AdvertisedAddress, the address other silos and clients reach this silo at; without it the silo is on loopback only.");
        _ = Tls();
        return this;
    }

    /// <summary><see cref="AdvertisedAddress"/> as an address (a host name resolved to its first IPv4 address), or null
    /// when it is empty.</summary>
    /// <exception cref="RunRequestException">it neither parses nor resolves, or it is a wildcard.</exception>
    public IPAddress? AdvertisedIp()
    {
        if (string.IsNullOrWhiteSpace(AdvertisedAddress)) return null;
        var setting = $"{Section}:AdvertisedAddress";
        if (!IPAddress.TryParse(AdvertisedAddress, out var address))
        {
            IPAddress[] found;
            try
            {
                found = Dns.GetHostAddresses(AdvertisedAddress, AddressFamily.InterNetwork);
            }
            catch (Exception e) when (e is SocketException or ArgumentException)
            {
                throw new RunRequestException(setting, $"'{AdvertisedAddress}' is not an IP address, and as a host name it does not resolve: {e.Message}");
            }
            address = found.FirstOrDefault()
                ?? throw new RunRequestException(setting, $"the host name '{AdvertisedAddress}' has no IPv4 address.");
        }
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
            throw new RunRequestException(setting,
                $"'{AdvertisedAddress}' is no address other machines can reach this silo at; give this machine's address, and {Section}:ListenOnAllInterfaces=true to listen on every interface.");
        return address;
    }

    /// <summary>This silo's TLS certificates from <see cref="TlsCertificate"/>, <see cref="TlsKey"/> and
    /// <see cref="TlsAuthority"/>, read and checked; null when none is set.</summary>
    /// <exception cref="RunRequestException">only some are set, or a file is missing, unreadable or wrong: names the setting and the file.</exception>
    public ClusterCertificates? Tls()
    {
        var files = new[] { ("TlsCertificate", TlsCertificate), ("TlsKey", TlsKey), ("TlsAuthority", TlsAuthority) };
        var set = files.Where(f => !string.IsNullOrWhiteSpace(f.Item2)).ToList();
        if (set.Count == 0) return null;
        if (set.Count < files.Length)
        {
            var missing = files.First(f => string.IsNullOrWhiteSpace(f.Item2)).Item1;
            throw new RunRequestException($"{Section}:{missing}",
                $"is required with {string.Join(" and ", set.Select(f => $"{Section}:{f.Item1}"))}: set all three of TlsCertificate, TlsKey and TlsAuthority for mutual TLS, or none.");
        }
        // A silo's certificate serves its listeners and its connections to the other silos.
        return ClusterCertificates.Load(
            new($"{Section}:TlsCertificate", TlsCertificate!), new($"{Section}:TlsKey", TlsKey!), new($"{Section}:TlsAuthority", TlsAuthority!),
            ClusterCertificates.ServerAuthentication, ClusterCertificates.ClientAuthentication);
    }
}
