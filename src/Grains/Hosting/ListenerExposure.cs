using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace GrowLength.Grains.Hosting;

/// <summary>Whether a listener is reachable from other machines, and the one warning a host logs at start when it is.</summary>
/// <remarks>Every listener of a silo is on loopback unless a setting widens it; each one a setting widened is said once at
/// start, naming that setting, so an operator who exposed a port by accident reads why and what protects it.</remarks>
public static class ListenerExposure
{
    /// <summary>True when only this machine can reach a listener bound to <paramref name="host"/>: a loopback address or
    /// <c>localhost</c>. Wildcards (<c>0.0.0.0</c>, <c>::</c>, <c>*</c>, <c>+</c>) and other names are taken as exposed.</summary>
    public static bool IsLoopback(string host)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address);
    }

    /// <summary>The warning for listeners reachable beyond this machine, e.g. "GrowLength:AdvertisedAddress=10.0.0.5: silo
    /// port 11111 and gateway port 30000 listening on 10.0.0.5 without TLS; set ...".</summary>
    /// <param name="cause">the setting(s) that widened them, with their values.</param>
    /// <param name="listeners">what listens: "silo port 11111 and gateway port 30000".</param>
    /// <param name="boundTo">where: an address, or "every interface".</param>
    /// <param name="protection">what guards them ("mutual TLS"), or null for nothing.</param>
    /// <param name="remedy">what to set when nothing guards them.</param>
    public static string Warning(string cause, string listeners, string boundTo, string? protection, string remedy) =>
        protection is null
            ? $"{cause}: {listeners} listening on {boundTo} without TLS; {remedy}"
            : $"{cause}: {listeners} listening on {boundTo} with {protection}";

    /// <summary>Logs <paramref name="warning"/> once, at Warning, when the host starts (category
    /// <c>GrowLength.Grains.Hosting.ListenerExposure</c>).</summary>
    public static IServiceCollection WarnAtStart(this IServiceCollection services, string warning) =>
        // Not AddHostedService: it keeps one service per implementation type, and a host may have several warnings.
        services.AddSingleton<IHostedService>(sp => new StartWarning(sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ListenerExposure)), warning));

    private sealed class StartWarning(ILogger logger, string warning) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            logger.LogWarning("{Warning}", warning);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
