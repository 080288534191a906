using System.Globalization;
using System.Text.Json;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Model;
using GrowLength.Training.Run;
using static TorchSharp.torch;

namespace GrowLength.Training.Engine;

/// <summary>What a training checkpoint holds: model, optimizer, RNG, progress and the run spec, as named parts.</summary>
public static class TrainingCheckpoint
{
    public const string ModelPart = "model.safetensors";
    public const string OptimizerPart = "optimizer.safetensors";
    public const string StatePart = "state.json";
    public const string SpecPart = "spec.json";
    public const string RngPart = "rng.safetensors";

    /// <summary>Writes every part of a checkpoint into <paramref name="writer"/> (the caller commits it).</summary>
    public static void WriteParts(CheckpointWriter writer, StepEngine engine, TrainingState state, RunSpec spec)
    {
        writer.WritePart(ModelPart, s => SafeTensors.Write(s, engine.Parameters.Named.ToList(),
            new Dictionary<string, string> { ["format"] = "growlength-model/1", ["preset"] = spec.Model.Preset }));
        writer.WritePart(OptimizerPart, s => SafeTensors.Write(s,
            [("first_moment", engine.Optimizer.FirstMoment), ("second_moment", engine.Optimizer.SecondMoment)],
            new Dictionary<string, string> { ["step_count"] = engine.Optimizer.StepCount.ToString(CultureInfo.InvariantCulture) }));
        // The training loop draws no random numbers of its own (data order is a pure function of the seed), but
        // the generator state is saved so anything that does (dropout, sampling) resumes exactly.
        using (var rng = get_rng_state())
            writer.WritePart(RngPart, s => SafeTensors.Write(s, [("cpu_generator", rng)]));
        writer.WritePart(StatePart, s => JsonSerializer.Serialize(s, state, RunSpecJson.Options));
        writer.WritePart(SpecPart, s => JsonSerializer.Serialize(s, spec, RunSpecJson.Options));
    }

    /// <summary>Saves and commits a checkpoint at the state's step.</summary>
    public static CheckpointManifest Save(CheckpointStore store, StepEngine engine, TrainingState state, RunSpec spec)
    {
        using var writer = store.BeginWrite(state.Progress.Step);
        WriteParts(writer, engine, state, spec);
        return writer.Commit(new Dictionary<string, string>
        {
            ["tokens"] = state.Progress.Tokens.ToString(CultureInfo.InvariantCulture),
            ["stage"] = state.Progress.Stage.ToString(CultureInfo.InvariantCulture),
            ["length"] = state.CurrentLength.ToString(CultureInfo.InvariantCulture),
        });
    }

    /// <summary>Reads the run spec a checkpoint was written with (the model shape on resume comes from here).</summary>
    public static RunSpec ReadSpec(CheckpointHandle handle)
    {
        using var stream = handle.OpenPart(SpecPart);
        using var reader = new StreamReader(stream);
        return RunSpecJson.Parse(reader.ReadToEnd(), handle.PartPath(SpecPart));
    }

    /// <summary>Reads the progress and transitions.</summary>
    public static TrainingState ReadState(CheckpointHandle handle)
    {
        using var stream = handle.OpenPart(StatePart);
        try
        {
            return JsonSerializer.Deserialize<TrainingState>(stream, RunSpecJson.Options)
                ?? throw new RunInputException(handle.PartPath(StatePart), "empty training state.");
        }
        catch (JsonException e)
        {
            throw new RunInputException(handle.PartPath(StatePart), $"not a valid training state: {e.Message}", e);
        }
    }

    /// <summary>Loads only the weights into <paramref name="model"/>, for evaluation: no optimizer state is read.</summary>
    public static void LoadModelInto(CheckpointHandle handle, GrowLengthTransformer model)
    {
        using var scope = NewDisposeScope();
        var modelPath = handle.PartPath(ModelPart);
        var (weights, _) = SafeTensors.Read(modelPath);
        var named = model.named_parameters().ToList();
        ModelTensorCheck.Check(modelPath, weights, named.Select(p => (p.name, p.parameter.shape)).ToList(), "the checkpoint is of a different model shape");
        using var noGrad = no_grad();
        foreach (var (name, parameter) in named) parameter.copy_(weights[name]);
    }

    /// <summary>Loads weights and optimizer state into an engine built from the checkpoint's spec.</summary>
    /// <remarks>A model part that does not fit the engine's model throws <see cref="RunInputException"/> naming the
    /// part's file and the tensor (see <see cref="ModelTensorCheck"/>).</remarks>
    public static void LoadInto(CheckpointHandle handle, StepEngine engine)
    {
        LoadModelInto(handle, engine.Model);
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            var optimizerPath = handle.PartPath(OptimizerPart);
            var (moments, metadata) = SafeTensors.Read(optimizerPath);
            if (!moments.TryGetValue("first_moment", out var m) || !moments.TryGetValue("second_moment", out var v)
                || m.numel() != engine.Parameters.Count || v.numel() != engine.Parameters.Count
                || !metadata.TryGetValue("step_count", out var count))
                throw new RunInputException(optimizerPath, "optimizer state does not match the model.");
            engine.Optimizer.FirstMoment.copy_(m);
            engine.Optimizer.SecondMoment.copy_(v);
            engine.Optimizer.StepCount = long.Parse(count, CultureInfo.InvariantCulture);
        }
        if (handle.HasPart(RngPart))
        {
            var (rng, _) = SafeTensors.Read(handle.PartPath(RngPart));
            if (rng.TryGetValue("cpu_generator", out var generator)) set_rng_state(generator);
        }
    }
}
