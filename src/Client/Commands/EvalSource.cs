using GrowLength.Training;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Export;
using GrowLength.Training.Model;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace GrowLength.Client.Commands;

/// <summary>The model `growlength eval` measures, found from its PATH: a checkpoint or an export, with the settings it
/// brings (tokenizer, trained length, evaluation defaults, corpus) and a way to load its weights.</summary>
/// <remarks>Opening one reads and verifies files but loads no weights and writes nothing, so every problem with PATH
/// is found before the corpus is touched.</remarks>
/// <param name="Description">what the model is, for the report: "checkpoint step 24 of run tiny", "exported model".</param>
/// <param name="Folder">the checkpoint or export folder.</param>
/// <param name="DefinedBy">the file the model shape and tokenizer come from (spec.json or config.json): the subject of a mismatch.</param>
/// <param name="Model">the model shape, vocabulary resolved.</param>
/// <param name="Tokenizer">the tokenizer the model was trained with.</param>
/// <param name="TrainedLength">the longest length trained: beyond it the RoPE modes differ.</param>
/// <param name="Lengths">evaluation lengths when --lengths is not given.</param>
/// <param name="Modes">RoPE modes beyond the trained length when --modes is not given.</param>
/// <param name="Device">the device the model was trained for (a spec's device; auto for an export).</param>
/// <param name="Windows">windows per length when --windows is not given.</param>
/// <param name="Data">the corpus settings when --data is not given (a null path is the default corpus).</param>
/// <param name="Seed">the seed the validation split is drawn with: the same split as training when it is the run's.</param>
/// <param name="BatchTokens">most tokens per forward pass.</param>
/// <param name="LoadWeights">loads the source's weights into a model of <see cref="Model"/>'s shape.</param>
/// <param name="Reopen">chooses the run's newest checkpoint again, where PATH named a run rather than one checkpoint.</param>
internal sealed record EvalSource(
    string Description, string Folder, string DefinedBy, ModelConfig Model, string Tokenizer, int TrainedLength,
    IReadOnlyList<int> Lengths, IReadOnlyList<RopeScaling> Modes, string Device, int Windows, DataConfig Data, long Seed,
    long BatchTokens, Action<GrowLengthTransformer> LoadWeights, Func<EvalSource>? Reopen = null)
{
    // A live run prunes its old checkpoints as it writes new ones, so the newest one verified now can be gone by the time
    // its parts are read (a second terminal's eval on a run that checkpoints every few steps). The run's newest is then
    // chosen again: three tries, since each loses only to a prune that came within one open.
    private const int Attempts = 3;

    /// <summary>Loads the weights on <paramref name="device"/>, with the source they came from: where this source is a
    /// run's newest checkpoint and the run pruned it before its parts were read, the run's newest checkpoint now.</summary>
    public (EvalSource Source, GrowLengthTransformer Model) Load(Device device, ILogger logger)
    {
        var source = this;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return (source, source.LoadModel(device));
            }
            catch (RunInputException e) when (attempt < Attempts && source.Reopen is { } reopen && Vanished(e))
            {
                logger.LogWarning("{Checkpoint} was pruned by its run while it was read; taking the run's newest checkpoint", source.Folder);
                source = reopen();
            }
        }
    }

    private static bool Vanished(RunInputException e) => e.InnerException is FileNotFoundException or DirectoryNotFoundException;

    /// <summary>Builds the model on <paramref name="device"/> and loads the weights; a mismatch throws naming the file and tensor.</summary>
    public GrowLengthTransformer LoadModel(Device device)
    {
        // The seed only draws initial weights that the load then replaces.
        var model = new GrowLengthTransformer(Model, seed: 0, device);
        try
        {
            LoadWeights(model);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Resolves PATH: a checkpoint step folder, a run's checkpoints folder (its latest checkpoint that verifies),
    /// an exported model folder, or a run id whose checkpoints are under --home.</summary>
    public static EvalSource Open(string path, string home, ILogger logger)
    {
        // Without the trailing separator, so the folder compares equal to the store's name for it.
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (!Directory.Exists(full))
        {
            // A bare name that is no folder here may be a run id: its checkpoints live at <home>/checkpoints/<id>.
            var runFolder = Path.Combine(home, "checkpoints", path);
            if (path.IndexOfAny(['/', '\\']) < 0 && Directory.Exists(runFolder)) return FromCheckpoints(runFolder, logger);
            throw new RunInputException(path, File.Exists(full)
                ? "is a file; give the checkpoint folder (it holds manifest.json) or the exported model folder (config.json + model.safetensors)."
                : $"does not exist (nor is it a run with checkpoints under {Path.Combine(home, "checkpoints")}).");
        }
        if (File.Exists(Path.Combine(full, "manifest.json"))) return FromCheckpointFolder(full, logger);
        if (ModelImporter.IsExport(full)) return FromExport(ModelImporter.ReadInfo(full));
        if (Directory.EnumerateDirectories(full).Any(d => File.Exists(Path.Combine(d, "manifest.json")))) return FromCheckpoints(full, logger);
        throw new RunInputException(path,
            "is neither a checkpoint (a folder with manifest.json), a run's checkpoints folder (step-* folders), nor an exported model (config.json + model.safetensors).");
    }

    private static EvalSource FromCheckpointFolder(string folder, ILogger logger)
    {
        var manifest = CheckpointManifest.Load(Path.Combine(folder, "manifest.json"));
        var store = new CheckpointStore(Path.GetDirectoryName(folder)!, 1, logger);
        if (!string.Equals(Path.GetFullPath(store.FolderFor(manifest.Step)), folder, StringComparison.Ordinal))
            throw new RunInputException(folder, $"its manifest is for step {manifest.Step}, whose checkpoint folder is named {Path.GetFileName(store.FolderFor(manifest.Step))}.");
        // Open verifies every part's size and SHA-256 and names the first that does not match.
        return ForCheckpoint(store.Open(manifest.Step));
    }

    private static EvalSource FromCheckpoints(string root, ILogger logger)
    {
        for (int attempt = 1; ; attempt++)
        {
            // The same choice a resume makes: the newest checkpoint whose parts verify, falling back with a warning.
            var handle = new CheckpointStore(root, 1, logger).OpenLatestValid()
                ?? throw new RunInputException(root, "holds no complete checkpoint whose files verify (warnings above name what is wrong).");
            try
            {
                return ForCheckpoint(handle) with { Reopen = () => FromCheckpoints(root, logger) };
            }
            catch (RunInputException e) when (attempt < Attempts && Vanished(e))
            {
                logger.LogWarning("{Checkpoint} was pruned by its run while it was read; taking the run's newest checkpoint", handle.Folder);
            }
        }
    }

    /// <summary>A verified checkpoint, with the evaluation settings of its own spec.</summary>
    public static EvalSource ForCheckpoint(CheckpointHandle handle)
    {
        var spec = TrainingCheckpoint.ReadSpec(handle);
        var state = TrainingCheckpoint.ReadState(handle);
        var specPath = handle.PartPath(TrainingCheckpoint.SpecPart);
        if (!Training.Data.TokenizerCatalog.Names.Contains(spec.Data.Tokenizer))
            throw new RunInputException(specPath, $"data.tokenizer '{spec.Data.Tokenizer}' is unknown; known: {string.Join(", ", Training.Data.TokenizerCatalog.Names)}.");
        var model = spec.Model.VocabSize == 0
            ? spec.Model with { VocabSize = Training.Data.TokenizerCatalog.Create(spec.Data.Tokenizer).VocabSize }
            : spec.Model;
        try
        {
            model.Validate();
        }
        catch (RunInputException e)
        {
            throw new RunInputException(specPath, e.Message, e);
        }
        var run = Path.GetFileName(Path.GetDirectoryName(handle.Folder)!);
        return new EvalSource(
            $"checkpoint step {handle.Step} of run {run}", handle.Folder, specPath, model, spec.Data.Tokenizer,
            Math.Max(state.LongestLength, spec.Schedule.MinLength), spec.EvalLengths, spec.Eval.Modes(), spec.Device, spec.Eval.MaxWindows, spec.Data, spec.Seed,
            spec.Schedule.MicroBatchTokens, m => TrainingCheckpoint.LoadModelInto(handle, m));
    }

    private static EvalSource FromExport(ExportedModelInfo info)
    {
        // An export records neither the lengths nor the corpus; the defaults are a run's: doubling from 128 (or the
        // trained length, if shorter) to twice the trained length, and the default corpus split as the export recorded it
        // (older exports: the default fraction and seed).
        var lengths = new EvalConfig().LengthsOrDefault(Math.Min(128, info.TrainedLength), info.TrainedLength);
        return new EvalSource(
            "exported model", info.Folder, info.ConfigPath, info.Model, info.Tokenizer, info.TrainedLength, lengths,
            new EvalConfig().Modes(), "auto", new EvalConfig().MaxWindows,
            new DataConfig { Tokenizer = info.Tokenizer, ValidationFraction = info.ValidationFraction ?? new DataConfig().ValidationFraction, SplitSeed = info.SplitSeed },
            new RunSpec().Seed,
            new ScheduleConfig().MicroBatchTokens, m => ModelImporter.LoadInto(info.WeightsPath, m));
    }
}
