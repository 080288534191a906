using System.Net;
using GrowLength.Grains.Placement;
using GrowLength.Grains.Storage;
using GrowLength.Grains.Storage.Postgres;
using GrowLength.Grains.Workers;
using GrowLength.Training.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace GrowLength.Grains.Hosting;

/// <summary>The name of GrowLength's grain storage.</summary>
public static class GrowLengthStorage
{
    public const string Name = "growlength";
}

/// <summary>Composes a GrowLength silo: the same composition serves src/Silo, the client's embedded mode and the tests.</summary>
public static class GrowLengthHosting
{
    /// <summary>Binds <see cref="GrowLengthSiloOptions"/> from the <c>GrowLength</c> section (appsettings.json,
    /// GROWLENGTH__KEY environment variables, --GrowLength:Key=value arguments), lets <paramref name="configure"/> adjust
    /// them, and adds an Orleans silo with clustering from those options plus everything GrowLength needs.</summary>
    public static IHostApplicationBuilder UseGrowLengthSilo(this IHostApplicationBuilder builder, Action<GrowLengthSiloOptions>? configure = null)
    {
        var options = builder.Configuration.GetSection(GrowLengthSiloOptions.Section).Get<GrowLengthSiloOptions>() ?? new GrowLengthSiloOptions();
        configure?.Invoke(options);
        options.Validated();
        builder.UseOrleans(silo =>
        {
            silo.UseGrowLengthClustering(options);
            silo.AddGrowLength(options);
            silo.AddGrowLengthDashboard(options);
        });
        builder.Services.AddGrowLengthMetrics(options);
        return builder;
    }

    /// <summary>Membership from <see cref="GrowLengthSiloOptions.Clustering"/>: the development table in the first silo, or
    /// Orleans' ADO.NET membership in PostgreSQL, where every silo is equal and any of them may die. Either way the silo and
    /// gateway ports listen on loopback, or on <see cref="GrowLengthSiloOptions.AdvertisedAddress"/> only, or on every
    /// interface with <see cref="GrowLengthSiloOptions.ListenOnAllInterfaces"/>; with the Tls* settings every connection
    /// is mutual TLS. A listener reachable from other machines is said once at start.</summary>
    public static ISiloBuilder UseGrowLengthClustering(this ISiloBuilder silo, GrowLengthSiloOptions options)
    {
        var primary = string.IsNullOrWhiteSpace(options.PrimarySiloEndpoint) ? null : ParseEndpoint(options.PrimarySiloEndpoint);
        var advertised = options.AdvertisedIp();
        var everyInterface = advertised is not null && options.ListenOnAllInterfaces;
        if (advertised is null && !options.UsesPostgres)
        {
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, primary, options.ClusterId, options.ClusterId);
        }
        else
        {
            if (options.UsesPostgres)
                silo.UseAdoNetClustering(o =>
                {
                    o.Invariant = PostgresInvariant;
                    o.ConnectionString = options.PostgresConnection;
                });
            else
                silo.UseDevelopmentClustering(primary ?? new IPEndPoint(advertised!, options.SiloPort));
            silo.Configure<ClusterOptions>(c => { c.ClusterId = options.ClusterId; c.ServiceId = options.ClusterId; })
                .ConfigureEndpoints(advertised ?? IPAddress.Loopback, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: everyInterface);
        }
        var tls = options.Tls();
        if (tls is not null) silo.UseTls(tls.Configure);
        if (advertised is not null && (everyInterface || !IPAddress.IsLoopback(advertised)))
        {
            var cause = $"{GrowLengthSiloOptions.Section}:AdvertisedAddress={options.AdvertisedAddress}"
                + (everyInterface ? $" and {GrowLengthSiloOptions.Section}:ListenOnAllInterfaces=true" : "");
            silo.Services.WarnAtStart(ListenerExposure.Warning(cause,
                $"silo port {options.SiloPort} and gateway port {options.GatewayPort}",
                everyInterface ? "every interface" : advertised.ToString(),
                tls is null ? null : $"mutual TLS (peers signed by {tls.AuthorityFile})",
                $"set {GrowLengthSiloOptions.Section}:TlsCertificate, TlsKey and TlsAuthority (`growlength certs` makes a set)"));
        }
        return silo;
    }

    /// <summary>Orleans' ADO.NET name for Npgsql.</summary>
    public const string PostgresInvariant = "Npgsql";

    /// <summary>Reaches PostgreSQL and brings its schema up to date before the silo starts, when the silo's state lives
    /// there (<see cref="PostgresStartup.Prepare"/>); nothing for development clustering. Call between Build and Start.</summary>
    /// <exception cref="RunRequestException">the database's schema cannot be used.</exception>
    /// <exception cref="DatabaseUnavailableException">PostgreSQL stayed unreachable for the start's budget.</exception>
    public static async Task PrepareGrowLengthStorage(this IHost host, CancellationToken cancel = default)
    {
        var options = host.Services.GetRequiredService<IOptions<GrowLengthSiloOptions>>().Value;
        if (!options.UsesPostgres) return;
        await PostgresStartup.Prepare(options, host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(PostgresStartup)), cancel);
    }

    /// <summary>Everything but clustering: options, grain storage (files, with the claim on the state folder; or PostgreSQL), device-slot
    /// metadata and placement, the device host.</summary>
    /// <exception cref="RunRequestException">the state folder is owned by a silo of another cluster (the message names its pid).</exception>
    public static ISiloBuilder AddGrowLength(this ISiloBuilder silo, GrowLengthSiloOptions options)
    {
        options.Validated();
        var joining = string.IsNullOrWhiteSpace(options.PrimarySiloEndpoint) ? null : ParseEndpoint(options.PrimarySiloEndpoint);
        // With PostgreSQL the state folder holds no grain state, so no silo owns it.
        if (!options.UsesPostgres && FileGrainStorage.Claim(options.StateFolder, $"{GrowLengthSiloOptions.Section}:StateFolder", options.ClusterId, joining) is { } ownership)
        {
            // Created by a factory so the container releases the hold when the silo's host is disposed.
            silo.Services.AddSingleton(_ => ownership);
            silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => new StateFolderOwnerPublisher(
                sp.GetRequiredService<StateFolderOwnership>(), sp.GetRequiredService<ILocalSiloDetails>(), sp.GetRequiredService<IOptions<ClusterOptions>>(), options.UsesTls));
        }
        silo.Services.AddSingleton(Options.Create(options));
        if (options.UsesPostgres)
            silo.AddAdoNetGrainStorage(GrowLengthStorage.Name, o =>
            {
                o.Invariant = PostgresInvariant;
                o.ConnectionString = options.PostgresConnection;
                o.GrainStorageSerializer = new JsonGrainStateSerializer();
            });
        else
            silo.Services.AddGrainStorage(GrowLengthStorage.Name, (sp, _) =>
                new FileGrainStorage(options.StateFolder, sp.GetRequiredService<ILogger<FileGrainStorage>>()));
        silo.UseSiloMetadata(new Dictionary<string, string>
        {
            [DeviceSlotPlacement.SlotsKey] = options.DeviceSlots.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [DeviceSlotPlacement.KindKey] = options.DeviceKind,
        });
        silo.Services.AddPlacementDirector<DeviceSlotPlacement, DeviceSlotPlacementDirector>();
        silo.Services.AddSingleton<ClusterSlots>();
        // The strongly consistent directory recovers a dead silo's directory partition from the survivors' activations;
        // the default one loses it, and the next call to a survivor's worker or the run's coordinator then creates a
        // second, empty activation beside the live one. Orleans marks it experimental; it is what survival of a silo needs.
#pragma warning disable ORLEANSEXP003
        silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
        silo.Services.Configure<ClusterMembershipOptions>(MembershipProbes.Apply);
        silo.AddIncomingGrainCallFilter<ClusterInternalCallFilter>();
        silo.Services.AddSingleton(sp => new TrainingMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        silo.Services.AddSingleton<DeviceSlotHost>();
        silo.Services.AddHostedService(sp => sp.GetRequiredService<DeviceSlotHost>());
        silo.Services.AddSingleton<GradientListener>();
        silo.Services.AddHostedService(sp => sp.GetRequiredService<GradientListener>());
        return silo;
    }

    /// <summary>Exports the GrowLength meter, Orleans' own and the .NET runtime's on a Prometheus endpoint
    /// (<see cref="GrowLengthSiloOptions.MetricsPort"/>; off when 0).</summary>
    public static IServiceCollection AddGrowLengthMetrics(this IServiceCollection services, GrowLengthSiloOptions options)
    {
        if (options.MetricsPort == 0) return services;
        if (!ListenerExposure.IsLoopback(options.MetricsHost))
            services.WarnAtStart(ListenerExposure.Warning($"{GrowLengthSiloOptions.Section}:MetricsHost={options.MetricsHost}",
                $"the metrics endpoint (port {options.MetricsPort})", options.MetricsHost, protection: null,
                "it has no authentication either: keep it on a network only Prometheus reaches, or leave MetricsHost at 127.0.0.1."));
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("growlength-silo", serviceInstanceId: $"{options.MetricsHost}:{options.SiloPort}"))
            .WithMetrics(metrics => metrics
                .AddMeter(TrainingMetrics.MeterName, "Microsoft.Orleans")
                .AddRuntimeInstrumentation()
                .AddPrometheusHttpListener(o => { o.Host = options.MetricsHost; o.Port = options.MetricsPort; }));
        return services;
    }

    private static IPEndPoint ParseEndpoint(string text) =>
        IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port != 0
            ? endpoint
            : throw new RunRequestException($"{GrowLengthSiloOptions.Section}:PrimarySiloEndpoint", $"'{text}' is not an address:port such as 127.0.0.1:11111.");
}
