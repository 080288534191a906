using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GrowLength.Training;
using GrowLength.Training.Data;
using GrowLength.Training.Evaluation;
using GrowLength.Training.Model;
using GrowLength.Training.Run;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using GrowLength.Client.Reporting;

namespace GrowLength.Client.Commands;

/// <summary>`growlength eval PATH`: validation perplexity per context length and RoPE mode of a checkpoint or an exported
/// model, on this machine without a cluster.</summary>
internal static class EvalCommand
{
    /// <summary>What `eval --json` writes.</summary>
    public sealed record EvalReport(
        string Source, string Folder, string Model, long Parameters, string Tokenizer, int TrainedLength, string Corpus, long ValidationTokens,
        string Device, IReadOnlyList<EvalRow> Results, DateTimeOffset When);

    /// <summary>One length and RoPE mode of <see cref="EvalReport"/>.</summary>
    /// <param name="StandardError">of <paramref name="Loss"/> over the windows; null with one window.</param>
    public sealed record EvalRow(int Length, string Mode, double Loss, double Perplexity, int Windows, bool BeyondTrained, double? StandardError);

    public static Command Create(IAnsiConsole console, Option<DirectoryInfo> home)
    {
        // Optional here so that a missing PATH is reported like any other bad input (one line, exit 2).
        var path = new Argument<string?>("path")
        {
            Description = "A checkpoint folder (step-…), a run's checkpoints folder (its latest checkpoint that verifies), a run id with checkpoints under --home, or an exported model folder (config.json + model.safetensors).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        // Numbers are read as text so that a bad one gets this program's message naming the option.
        var lengths = new Option<string?>("--lengths") { Description = "Comma-separated context lengths (default: the checkpoint spec's eval lengths; for an export, doubling from 128 to twice the trained length)." };
        var modes = new Option<string>("--modes") { Description = "RoPE modes beyond the trained length: extrapolate, interpolate, ntk.", DefaultValueFactory = _ => "extrapolate,interpolate,ntk" };
        var windows = new Option<string?>("--windows") { Description = "Most validation windows per length (default: the spec's eval.maxWindows, or 16)." };
        var data = new Option<string?>("--data") { Description = "Corpus to evaluate on: a folder of text files, a .jsonl or a .bin file (default: the checkpoint's corpus; for an export, the default corpus), tokenized with the model's tokenizer." };
        var trained = new Option<string?>("--trained-length") { Description = "The longest length the model was trained at, where the RoPE modes start to differ (default: from the checkpoint or export)." };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the results to this JSON file." };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto.", DefaultValueFactory = _ => "auto" };
        var command = new Command("eval", "Validation perplexity per context length and RoPE mode of a checkpoint or an exported model.")
        {
            path, lengths, modes, windows, data, trained, json, device,
        };
        command.SetAction(parse =>
        {
            // Every option is checked before PATH is opened, and PATH before the corpus, so bad input writes nothing.
            var lengthList = parse.GetValue(lengths) is { } text ? LengthList.Parse(text) : null;
            var modeList = ParseModes(parse.GetValue(modes)!);
            int? windowCount = parse.GetValue(windows) is { } w ? PositiveNumber("--windows", w) : null;
            int? trainedLength = parse.GetValue(trained) is { } t ? PositiveNumber("--trained-length", t) : null;
            var dataPath = parse.GetValue(data);
            if (dataPath is not null && !File.Exists(dataPath) && !Directory.Exists(dataPath))
                throw new RunInputException("--data", $"'{dataPath}' does not exist.");
            var jsonFile = parse.GetValue(json);
            if (jsonFile is not null && !Directory.Exists(jsonFile.DirectoryName))
                throw new RunInputException("--json", $"the folder {jsonFile.DirectoryName} does not exist.");
            var dev = ResolveDevice(parse.GetValue(device)!);
            var target = parse.GetValue(path)
                ?? throw new RunInputException("PATH", "missing: give a checkpoint folder, a run's checkpoints folder, a run id or an exported model folder.");

            var homeFolder = parse.GetValue(home)!.FullName;
            using var logging = GrowLengthCli.Logging(quiet: true);
            var logger = logging.CreateLogger("growlength");
            var (source, loaded) = EvalSource.Open(target, homeFolder, logger).Load(dev, logger);
            using var model = loaded;
            var tokenizer = TokenizerCatalog.Create(source.Tokenizer);
            if (tokenizer.VocabSize > source.Model.VocabSize)
                throw new RunInputException(source.DefinedBy,
                    $"the {tokenizer.Name} tokenizer has {tokenizer.VocabSize:N0} ids, more than the model's vocabulary of {source.Model.VocabSize:N0}; its corpus would hold tokens the model has no embedding for.");

            var corpusPath = dataPath ?? source.Data.Path;
            if (!string.IsNullOrEmpty(corpusPath) && !File.Exists(corpusPath) && !Directory.Exists(corpusPath))
                throw new RunInputException("--data", $"the checkpoint's corpus '{corpusPath}' (data.path of its spec) no longer exists; give the corpus to evaluate on with --data.");
            using var corpus = CorpusCache.Open(source.Data with { Path = corpusPath }, source.Seed, tokenizer, Path.Combine(homeFolder, "corpus"), logger,
                ClusterConnection.CorpusLimitsFor(homeFolder));
            corpusPath = corpus.Manifest.Source;

            var evalLengths = lengthList ?? source.Lengths;
            // RoPE tables are built for any length, so what bounds a length is the validation split: one window needs length + 1 tokens.
            if (evalLengths.FirstOrDefault(l => l + 1L > corpus.ValidationTokenCount) is var tooLong and > 0)
                throw new RunInputException("--lengths",
                    $"{tooLong} needs {tooLong + 1:N0} validation tokens for one window; the validation split of {corpusPath} has {corpus.ValidationTokenCount:N0}. Give shorter lengths or a larger corpus.");
            int trainedAt = trainedLength ?? source.TrainedLength;
            int perLength = windowCount ?? source.Windows;

            // Paths on lines of their own: Spectre wraps long lines, and a path split in two cannot be copied.
            console.MarkupLine($"{Markup.Escape(source.Description)}: {Markup.Escape(source.Folder)}");
            console.MarkupLine($"model [bold]{Markup.Escape(source.Model.Preset)}[/] ({source.Model.ParameterCount:N0} parameters), tokenizer {Markup.Escape(tokenizer.Name)}, trained length {trainedAt}");
            console.MarkupLine($"corpus: {Markup.Escape(corpusPath)}");
            console.MarkupLine($"validation split of {corpus.ValidationTokenCount:N0} tokens, up to {perLength} windows per length, device {dev.type}");
            var results = Evaluator.Evaluate(model, corpus, evalLengths, modeList, trainedAt, perLength, source.BatchTokens);
            ReportTables.WriteEvaluation(console, results);

            if (jsonFile is not null)
            {
                var report = new EvalReport(source.Description, source.Folder, source.Model.Preset, source.Model.ParameterCount, tokenizer.Name, trainedAt, corpusPath,
                    corpus.ValidationTokenCount, dev.type.ToString(),
                    results.Select(r => new EvalRow(r.Length, ModeName(r.Mode), r.Loss, r.Perplexity, r.Windows, r.BeyondTrained,
                        double.IsFinite(r.StandardError) ? r.StandardError : null)).ToList(), DateTimeOffset.Now);
                File.WriteAllText(jsonFile.FullName, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
                console.MarkupLine($"results written to {Markup.Escape(jsonFile.FullName)}");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static IReadOnlyList<RopeScaling> ParseModes(string text)
    {
        var modes = new List<RopeScaling>();
        foreach (var name in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            try
            {
                var mode = EvalConfig.ParseMode(name);
                if (!modes.Contains(mode)) modes.Add(mode);
            }
            catch (RunInputException e)
            {
                throw new RunInputException("--modes", e.Problem, e);
            }
        }
        if (modes.Count == 0) throw new RunInputException("--modes", "lists no RoPE mode; known: extrapolate, interpolate, ntk.");
        return modes;
    }

    private static int PositiveNumber(string option, string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new RunInputException(option, $"'{text}' is not a positive whole number.");

    private static TorchSharp.torch.Device ResolveDevice(string name)
    {
        if (name is not ("auto" or "cpu" or "cuda") && !name.StartsWith("cuda:", StringComparison.Ordinal))
            throw new RunInputException("--device", $"unknown device '{name}'; use auto, cpu, cuda or cuda:N.");
        try
        {
            return Devices.Resolve(name);
        }
        catch (RunInputException e)
        {
            throw new RunInputException("--device", e.Problem, e);
        }
    }

    /// <summary>The name --modes takes for a mode.</summary>
    private static string ModeName(RopeScaling mode) => mode switch
    {
        RopeScaling.Extrapolate => "extrapolate",
        RopeScaling.Interpolate => "interpolate",
        _ => "ntk",
    };
}
