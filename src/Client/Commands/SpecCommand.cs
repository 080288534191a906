using System.CommandLine;
using GrowLength.Training.Run;
using Spectre.Console;

namespace GrowLength.Client.Commands;

/// <summary>`growlength spec`: prints the resolved run spec as JSON (a starting point for --spec files).</summary>
internal static class SpecCommand
{
    public static Command Create(IAnsiConsole console)
    {
        var command = new Command("spec", "Print the run spec that a preset, spec file and overrides resolve to.");
        var options = new RunSpecOptions();
        options.AddTo(command);
        command.SetAction(parse =>
        {
            console.Profile.Out.Writer.WriteLine(RunSpecJson.ToJson(options.Build(parse)));
            return ExitCodes.Success;
        });
        return command;
    }
}
