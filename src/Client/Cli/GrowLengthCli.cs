using System.CommandLine;
using GrowLength.Training;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace GrowLength.Client.Cli;

/// <summary>The `growlength` command tree and its error handling: bad input → one line naming the setting, exit 2.</summary>
internal static class GrowLengthCli
{
    public static int Run(string[] args, IAnsiConsole? console = null)
    {
        console ??= AnsiConsole.Console;
        var root = new RootCommand("GrowLength: pretrain language models faster by growing the sequence length in stages.");
        var home = new Option<DirectoryInfo>("--home")
        {
            Description = "Folder for the corpus cache, runs and checkpoints.",
            DefaultValueFactory = _ => new DirectoryInfo(Environment.GetEnvironmentVariable("GROWLENGTH_HOME") ?? ".growlength"),
            Recursive = true,
        };
        root.Add(home);
        root.Add(SpecCommand.Create(console));
        root.Add(BenchCommand.Create(console));
        root.Add(TrainCommand.Create(console, home));

        var parse = root.Parse(args);
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (RunInputException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return ExitCodes.BadInput;
        }
    }

    /// <summary>A console logger at Information (Warning when quiet), for library messages such as corpus ingestion.</summary>
    public static ILoggerFactory Logging(bool quiet = false) =>
        LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
            .SetMinimumLevel(quiet ? LogLevel.Warning : LogLevel.Information));
}
