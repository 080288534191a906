using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Dashboard;

namespace GrowLength.Grains.Hosting;

/// <summary>Serves the Orleans Dashboard over HTTP with basic authentication at
/// <see cref="GrowLengthSiloOptions.DashboardHost"/>:<see cref="GrowLengthSiloOptions.DashboardPort"/>, beside the silo.</summary>
/// <remarks>The silo is a generic host, not a web application, so the dashboard gets a small Kestrel application of its
/// own; its endpoints resolve the dashboard's services (registered in the silo by <c>AddDashboard</c>) from the silo's
/// container, through one forwarding registration per service type.</remarks>
internal sealed class DashboardServer(
    IServiceProvider silo, GrowLengthSiloOptions options, IReadOnlyList<Type> dashboardServices, ILogger<DashboardServer> logger)
    : IHostedService, IAsyncDisposable
{
    private WebApplication? app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var address = options.DashboardAddress;
        if (!IPAddress.IsLoopback(address))
            logger.LogWarning(
                "The Orleans Dashboard listens on {Address}:{Port}, beyond this machine: only its basic-authentication password ({Setting}) guards it, in clear HTTP",
                address, options.DashboardPort, $"{GrowLengthSiloOptions.Section}:DashboardPassword");
        // The empty builder reads no configuration of its own (no ASPNETCORE_URLS, no appsettings): the one listener below.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(address, options.DashboardPort));
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(silo.GetRequiredService<ILoggerFactory>());
        foreach (var type in dashboardServices)
            builder.Services.AddSingleton(type, _ => silo.GetRequiredService(type));
        app = builder.Build();
        var user = options.DashboardUser;
        var password = options.DashboardPassword ?? throw new InvalidOperationException("the dashboard's password was not validated");
        app.Use(async (HttpContext context, RequestDelegate next) =>
        {
            if (DashboardBasicAuthentication.Allows(context.Request.Headers.Authorization, user, password))
            {
                await next(context);
                return;
            }
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = DashboardBasicAuthentication.Challenge;
        });
        app.UseRouting();
        app.MapOrleansDashboard();
        await app.StartAsync(cancellationToken);
        logger.LogInformation("Orleans Dashboard at http://{Address}:{Port}/ (user {User})", address, options.DashboardPort, user);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (app is not null) await app.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null) await app.DisposeAsync();
    }
}
