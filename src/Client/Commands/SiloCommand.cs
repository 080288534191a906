using System.CommandLine;
using GrowLength.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace GrowLength.Client.Commands;

/// <summary>`growlength silo`: a standalone silo in this process, the same composition and settings as src/Silo, until
/// Ctrl+C or SIGTERM (a graceful leave: its workers stop and the cluster is told).</summary>
/// <remarks>One program to deploy instead of two, and what `growlength chaos` starts and kills.</remarks>
internal static class SiloCommand
{
    /// <summary>The first words of the line printed once the silo has joined its cluster and opened its gateway.</summary>
    public const string StartedLine = "silo started: ";

    /// <summary>Every silo setting, from the options class itself so the help never lists one that is gone.</summary>
    private static string SettingNames => string.Join(", ",
        typeof(GrowLengthSiloOptions).GetProperties().Where(p => p.CanWrite && p.GetSetMethod() is not null).Select(p => p.Name));

    public static Command Create(Option<DirectoryInfo> home)
    {
        var command = new Command("silo",
            "Run a GrowLength silo in this process until Ctrl+C or SIGTERM. Settings as for src/Silo: --GrowLength:Key=value "
            + $"({SettingNames}) or GROWLENGTH__KEY variables; the folders default to --home's, and run specs may name files "
            + "only under --home (or PathRoots).");
        // The settings are open-ended configuration keys; the configuration binder reads them, not System.CommandLine.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parse => Run(parse.GetValue(home)!.FullName, [.. parse.UnmatchedTokens]).GetAwaiter().GetResult());
        return command;
    }

    private static async Task<int> Run(string homeFolder, string[] settings)
    {
        // Below the host's own sources (environment, then arguments): the defaults a user or src/Silo's appsettings.json
        // would otherwise give, with the folders under --home so `growlength list --home` finds this silo's runs.
        var defaults = new ConfigurationManager();
        defaults.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{GrowLengthSiloOptions.Section}:StateFolder"] = Path.Combine(homeFolder, "state"),
            [$"{GrowLengthSiloOptions.Section}:CheckpointFolder"] = Path.Combine(homeFolder, "checkpoints"),
            [$"{GrowLengthSiloOptions.Section}:CorpusCacheFolder"] = Path.Combine(homeFolder, "corpus"),
            ["Logging:LogLevel:Default"] = "Information",
            ["Logging:LogLevel:Orleans"] = "Warning",
            ["Logging:LogLevel:Microsoft"] = "Warning",
            // Orleans' placement pipeline logs every call at Information.
            ["Logging:LogLevel:Polly"] = "Warning",
        });
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = settings, Configuration = defaults });
        GrowLengthSiloOptions? options = null;
        // A bad setting, or a state folder another cluster owns, throws RunRequestException here: GrowLengthCli prints
        // its one line and exits 2, as src/Silo does, with nothing started.
        builder.UseGrowLengthSilo(o => options = o);
        using var host = builder.Build();
        await host.PrepareGrowLengthStorage();
        await host.StartAsync();
        var o = options!;
        var address = string.IsNullOrWhiteSpace(o.AdvertisedAddress) ? "127.0.0.1" : o.AdvertisedAddress;
        Console.WriteLine($"{StartedLine}gateway {address}:{o.GatewayPort}, silo port {o.SiloPort}, "
            + (o.UsesPostgres ? "membership in PostgreSQL" : string.IsNullOrWhiteSpace(o.PrimarySiloEndpoint) ? "primary" : $"joined {o.PrimarySiloEndpoint}")
            + $", {o.DeviceSlots} {o.DeviceKind} device slot{(o.DeviceSlots == 1 ? "" : "s")}, state {(o.UsesPostgres ? "in PostgreSQL" : Path.GetFullPath(o.StateFolder))}, checkpoints {Path.GetFullPath(o.CheckpointFolder)}, pid {Environment.ProcessId}"
            + (o.UsesTls ? ", mutual TLS" : ""));
        // The console lifetime turns Ctrl+C and SIGTERM into a graceful stop of the host.
        await host.WaitForShutdownAsync();
        Console.WriteLine($"silo stopped: silo port {o.SiloPort}");
        return ExitCodes.Success;
    }
}
