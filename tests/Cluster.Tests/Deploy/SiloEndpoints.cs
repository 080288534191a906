using System.Globalization;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>The settings one silo runs with, as a deploy file composes them (defaults, then each layer on top), and the
/// ports and folders that follow from them.</summary>
internal sealed class SiloEndpoints
{
    private readonly Dictionary<string, string?> values = new(StringComparer.OrdinalIgnoreCase);

    public SiloEndpoints()
    {
        foreach (var name in new[] { "SiloPort", "GatewayPort", "MetricsPort", "MetricsHost", "DashboardPort", "CheckpointFolder" })
            values[name] = SiloSettings.Default(name);
    }

    /// <summary>Puts a setting on top of those before it.</summary>
    public void Set(string name, string? value) => values[SiloSettings.Canonical(name)] = value;

    /// <summary>A setting's value, or null when nothing set it and it has no default.</summary>
    public string? this[string name] => values.GetValueOrDefault(name);

    public int? SiloPort => Port("SiloPort");

    public int? GatewayPort => Port("GatewayPort");

    public int? MetricsPort => Port("MetricsPort");

    public int? DashboardPort => Port("DashboardPort");

    /// <summary>Every port the silo listens on (metrics and dashboard when on).</summary>
    public IEnumerable<int> Ports =>
        new[] { SiloPort, GatewayPort, MetricsPort is > 0 ? MetricsPort : null, DashboardPort is > 0 ? DashboardPort : null }
            .OfType<int>();

    /// <summary>The file-path settings (TLS files) that are set, as (name, path).</summary>
    public IEnumerable<(string Name, string Path)> Files =>
        new[] { "TlsCertificate", "TlsKey", "TlsAuthority" }
            .Select(n => (n, this[n]))
            .Where(p => !string.IsNullOrEmpty(p.Item2))
            .Select(p => (p.n, p.Item2!));

    private int? Port(string name) =>
        int.TryParse(this[name], NumberStyles.Integer, CultureInfo.InvariantCulture, out var port) ? port : null;
}
