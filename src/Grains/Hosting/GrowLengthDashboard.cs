using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Dashboard;

namespace GrowLength.Grains.Hosting;

/// <summary>The optional Orleans Dashboard of a GrowLength silo (<see cref="GrowLengthSiloOptions.DashboardPort"/>).</summary>
public static class GrowLengthDashboard
{
    /// <summary>Adds the Orleans Dashboard's data collection to the silo and serves it (<see cref="DashboardServer"/>) when
    /// <see cref="GrowLengthSiloOptions.DashboardPort"/> is set; nothing otherwise.</summary>
    /// <exception cref="RunRequestException">a dashboard setting is bad (no password, say).</exception>
    public static ISiloBuilder AddGrowLengthDashboard(this ISiloBuilder silo, GrowLengthSiloOptions options)
    {
        options.ValidatedDashboard();
        if (!options.DashboardEnabled) return silo;
        silo.AddDashboard();
        // Every service type the dashboard registered, for the web application's endpoints to resolve from the silo:
        // most are internal to the package, so they are found by assembly rather than named.
        var assembly = typeof(DashboardOptions).Assembly;
        var forwarded = silo.Services
            .Where(d => !d.IsKeyedService && d.ServiceType.Assembly == assembly && !d.ServiceType.ContainsGenericParameters)
            .Select(d => d.ServiceType)
            .Append(typeof(IOptions<DashboardOptions>))
            .Distinct()
            .ToArray();
        silo.Services.AddHostedService(sp => new DashboardServer(sp, options, forwarded, sp.GetRequiredService<ILogger<DashboardServer>>()));
        return silo;
    }
}
