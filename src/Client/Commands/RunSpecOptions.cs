using System.CommandLine;
using GrowLength.Training;
using GrowLength.Training.Run;

namespace GrowLength.Client.Commands;

/// <summary>The options that build a run spec: a preset, an optional spec file, and --section.key=value overrides.</summary>
internal sealed class RunSpecOptions(string defaultPreset = "demo")
{
    public Option<string> Preset { get; } = new("--preset")
    {
        Description = $"Run preset to start from: {string.Join(", ", RunSpecPresets.All.Keys)} (default: {defaultPreset}).",
        DefaultValueFactory = _ => defaultPreset,
    };

    public Option<FileInfo?> SpecFile { get; } = new("--spec")
    {
        Description = "A run spec JSON file (replaces the preset). Write one with `growlength spec`.",
    };

    /// <summary>Adds the options to <paramref name="command"/> and lets it take --section.key=value overrides.</summary>
    public void AddTo(Command command)
    {
        command.Add(Preset);
        command.Add(SpecFile);
        // Overrides are open-ended (--schedule.minLength=256); RunSpecJson rejects unknown keys by name.
        command.TreatUnmatchedTokensAsErrors = false;
    }

    /// <summary>The spec: file or preset, then overrides, validated (throws RunInputException naming the setting).</summary>
    public RunSpec Build(ParseResult parse)
    {
        var file = parse.GetValue(SpecFile);
        var spec = file is not null ? RunSpecJson.Load(file.FullName) : RunSpecPresets.ByName(parse.GetValue(Preset)!);
        var overrides = parse.UnmatchedTokens.ToList();
        foreach (var token in overrides)
        {
            if (!token.StartsWith("--", StringComparison.Ordinal) || !token.Contains('=') || !token[2..].Contains('.'))
                throw new RunInputException(token, "unrecognised argument; settings are given as --section.key=value (e.g. --schedule.minLength=256).");
        }
        return RunSpecJson.ApplyOverrides(spec, overrides).Validated();
    }
}
