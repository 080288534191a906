using System.CommandLine;
using GrowLength.Training;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace GrowLength.Client.Commands;

/// <summary>The `growlength` command tree and its error handling: bad input → one line naming the setting, exit 2.</summary>
internal static class GrowLengthCli
{
    public static int Run(string[] args, IAnsiConsole? console = null)
    {
        if (console is null)
        {
            console = AnsiConsole.Console;
            // Redirected (CI logs, tests): Spectre would wrap at 80 columns; status lines and tables read better unwrapped.
            if (Console.IsOutputRedirected) console.Profile.Width = 160;
        }
        var root = new RootCommand("GrowLength: pretrain language models faster by growing the sequence length in stages. `growlength demo` trains the demo on this machine.");
        var home = new Option<DirectoryInfo>("--home")
        {
            Description = "Folder for the corpus cache, runs and checkpoints.",
            DefaultValueFactory = _ => new DirectoryInfo(Environment.GetEnvironmentVariable("GROWLENGTH_HOME") ?? ".growlength"),
            Recursive = true,
        };
        var cluster = new Option<string[]>("--cluster")
        {
            Description = "Gateway host:port of a running GrowLength cluster (several allowed). Without it the program starts a silo in this process, with its state under --home.",
            Recursive = true,
            AllowMultipleArgumentsPerToken = false,
        };
        root.Add(home);
        root.Add(cluster);
        var tls = new ClientTlsOptions();
        tls.AddTo(root);
        root.Add(SpecCommand.Create(console));
        root.Add(BenchCommand.Create(console));
        var eval = EvalCommand.Create(console, home);
        root.Add(eval);
        var runs = new RunCommands(console, home, cluster, tls);
        root.Add(runs.Run("run", "Train a run through the cluster (embedded silo without --cluster): create it from a preset, spec file and overrides, start it, watch it, and report.", ["train"]));
        root.Add(runs.Run("demo", "Train the demo preset (cpu-demo model, bytes, GrowLength 128 → 2048) on the embedded silo, with live progress and the final tables.", []));
        root.Add(runs.Resume());
        root.Add(runs.Watch());
        root.Add(runs.Status());
        root.Add(runs.Stop());
        root.Add(runs.List());
        root.Add(new CompareCommand(console, home, cluster, tls).Create());
        var scale = runs.Scale();
        root.Add(scale);
        root.Add(SiloCommand.Create(home));
        var chaos = new ChaosCommand(console, home, cluster).Create();
        root.Add(chaos);
        var cache = CacheCommand.Create(console, home);
        root.Add(cache);
        var certs = CertsCommand.Create();
        root.Add(certs);

        var parse = root.Parse(args);
        // These commands' parse errors (an unknown option, an option without its value, a missing --workers) are bad input
        // like their other mistakes: one line and exit 2, rather than System.CommandLine's help text and exit 1.
        var strict = parse.CommandResult.Command;
        if ((strict == eval || strict == scale || strict == chaos || strict == certs || strict == cache || cache.Subcommands.Contains(strict)) && parse.Errors.Count > 0)
        {
            Console.Error.WriteLine($"error: {strict.Name}: {parse.Errors[0].Message}");
            return ExitCodes.BadInput;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (RunInputException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (GrowLength.Grains.RunRequestException e)
        {
            // Bad input found in the cluster (spec, corpus, run id, checkpoint folder), carried back by Orleans.
            Console.Error.WriteLine($"error: {e.Subject}: {e.Problem}");
            return ExitCodes.BadInput;
        }
        catch (ClusterUnavailableException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return ExitCodes.Unavailable;
        }
        catch (GrowLength.Grains.Hosting.DatabaseUnavailableException e)
        {
            // `growlength silo` with its state in a PostgreSQL that stayed away through the start's retries.
            Console.Error.WriteLine($"error: {e.Setting}: {e.Message}");
            return ExitCodes.Unavailable;
        }
        catch (Exception e) when (e is Orleans.Runtime.SiloUnavailableException or Orleans.Runtime.Messaging.ConnectionFailedException
            or Orleans.Runtime.OrleansMessageRejectionException or Orleans.Runtime.ClientNotAvailableException)
        {
            // The silo went away mid-command (the program that held the home ended, a gateway died): say so, not a stack trace.
            Console.Error.WriteLine($"error: lost the cluster: {e.Message}");
            return ExitCodes.Unavailable;
        }
    }

    /// <summary>A console logger at Information (Warning when quiet), for library messages such as corpus ingestion.</summary>
    public static ILoggerFactory Logging(bool quiet = false) =>
        LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
            .SetMinimumLevel(quiet ? LogLevel.Warning : LogLevel.Information));
}
