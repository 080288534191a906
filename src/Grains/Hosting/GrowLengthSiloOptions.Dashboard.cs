using System.Net;

namespace GrowLength.Grains.Hosting;

/// <summary>The optional Orleans Dashboard's settings (off unless <see cref="DashboardPort"/> is set).</summary>
/// <remarks>A part of its own so the dashboard stays one self-contained change beside the other host settings.</remarks>
public sealed partial class GrowLengthSiloOptions
{
    /// <summary>Port of the Orleans Dashboard (HTTP with basic authentication); 0 (the default) turns it off. Set it on every
    /// silo of a cluster: the dashboard's own grains may be placed on any of them.</summary>
    public int DashboardPort { get; set; }

    /// <summary>Address the dashboard binds to: loopback by default, like every other listener.</summary>
    public string DashboardHost { get; set; } = "127.0.0.1";

    /// <summary>The dashboard's basic-authentication user.</summary>
    public string DashboardUser { get; set; } = "admin";

    /// <summary>The dashboard's basic-authentication password, required when <see cref="DashboardPort"/> is set (also from
    /// GROWLENGTH__DASHBOARDPASSWORD, which keeps it off the command line).</summary>
    public string? DashboardPassword { get; set; }

    /// <summary>True when the dashboard is served.</summary>
    public bool DashboardEnabled => DashboardPort != 0;

    /// <summary>The address <see cref="DashboardHost"/> names.</summary>
    public IPAddress DashboardAddress => DashboardHost == "localhost" ? IPAddress.Loopback : IPAddress.Parse(DashboardHost);

    /// <summary>Throws <see cref="RunRequestException"/> naming the first bad dashboard setting.</summary>
    public GrowLengthSiloOptions ValidatedDashboard()
    {
        if (DashboardPort is < 0 or > 65535)
            throw new RunRequestException($"{Section}:DashboardPort", $"must be a port number, or 0 to turn the dashboard off (is {DashboardPort}).");
        if (!DashboardEnabled) return this;
        // A dashboard shows every grain and silo and can read grain state: never served without a password.
        if (string.IsNullOrEmpty(DashboardPassword))
            throw new RunRequestException($"{Section}:DashboardPassword",
                $"is required with {Section}:DashboardPort={DashboardPort} (the dashboard is served with HTTP basic authentication); set it with GROWLENGTH__DASHBOARDPASSWORD.");
        if (string.IsNullOrEmpty(DashboardUser) || DashboardUser.Contains(':', StringComparison.Ordinal))
            throw new RunRequestException($"{Section}:DashboardUser", $"must be a non-empty name without ':' (is '{DashboardUser}').");
        if (DashboardHost != "localhost" && !IPAddress.TryParse(DashboardHost, out _))
            throw new RunRequestException($"{Section}:DashboardHost", $"'{DashboardHost}' is not an IP address (127.0.0.1, 0.0.0.0, ...) or localhost.");
        return this;
    }
}
