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

    /// <summary>IP address other machines reach this silo at; empty keeps the cluster on localhost (one machine).</summary>
    public string? AdvertisedAddress { get; set; }

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

    /// <summary>Compute slots this silo offers: one worker each.</summary>
    public int DeviceSlots { get; set; } = 1;

    /// <summary>cpu or cuda (slot i uses cuda:i).</summary>
    public string DeviceKind { get; set; } = "cpu";

    /// <summary>Bytes per gradient chunk message (1–16 MB messages moved fastest over Orleans when measured; 64 MB collapsed to a tenth of the rate).</summary>
    public int GradientChunkBytes { get; set; } = 4 << 20;

    /// <summary>Port of the Prometheus metrics endpoint (http://MetricsHost:MetricsPort/metrics); 0 turns it off.</summary>
    public int MetricsPort { get; set; } = 9464;

    /// <summary>Address the metrics endpoint binds to: loopback by default, so metrics are not exposed off the machine.</summary>
    public string MetricsHost { get; set; } = "127.0.0.1";

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
        return this;
    }
}
