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
        using var rng = get_rng_state();
        foreach (var (name, write) in Parts(engine.Parameters.Named.ToList(), engine.Optimizer.FirstMoment, engine.Optimizer.SecondMoment,
            engine.Optimizer.StepCount, rng, state, spec))
            writer.WritePart(name, write);
    }

    /// <summary>Saves and commits a checkpoint at the state's step, on the calling thread: training waits for the whole
    /// write. <see cref="Snapshot"/> with an <see cref="AsyncCheckpointWriter"/> writes the same bytes in the background.</summary>
    public static CheckpointManifest Save(CheckpointStore store, StepEngine engine, TrainingState state, RunSpec spec)
    {
        using var writer = store.BeginWrite(state.Progress.Step);
        WriteParts(writer, engine, state, spec);
        return writer.Commit(Properties(state));
    }

    /// <summary>Copies what a checkpoint of <paramref name="state"/> holds to host memory (the parameters and both AdamW
    /// moments as three flat copies, the step count, the generator state), so its files can be written on another thread
    /// while <paramref name="engine"/> trains on. Call it at a step boundary, between updates.</summary>
    public static CheckpointSnapshot Snapshot(StepEngine engine, TrainingState state, RunSpec spec)
    {
        var owned = new List<IDisposable>();
        try
        {
            // Built in a scope of its own and detached from it: the copies outlive this call (and any scope of the
            // caller's step), and are freed with the snapshot.
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            Tensor Keep(Tensor t)
            {
                t.DetachFromDisposeScope();
                owned.Add(t);
                return t;
            }
            var values = Keep(HostCopy(engine.Parameters.Values));
            var firstMoment = Keep(HostCopy(engine.Optimizer.FirstMoment));
            var secondMoment = Keep(HostCopy(engine.Optimizer.SecondMoment));
            // Each parameter as a view of the copy, with the name and shape the live parameter has: the same bytes.
            var weights = engine.Parameters.Layout
                .Select(p => (p.Name, Keep(values.narrow(0, p.Offset, p.Shape.Aggregate(1L, (a, b) => a * b)).view(p.Shape))))
                .ToList();
            var rng = Keep(get_rng_state());
            var parts = Parts(weights, firstMoment, secondMoment, engine.Optimizer.StepCount, rng, state, spec);
            return new CheckpointSnapshot(state.Progress.Step, parts, Properties(state), owned);
        }
        catch
        {
            foreach (var item in owned) item.Dispose();
            throw;
        }
    }

    // A copy in host memory: one transfer from an accelerator, one memcpy on the CPU.
    private static Tensor HostCopy(Tensor t) => t.device_type == TorchSharp.DeviceType.CPU ? t.detach().clone() : t.detach().cpu();

    /// <summary>The parts of a checkpoint and the writer of each, over the given tensors: the live engine's for
    /// <see cref="Save"/>, host copies for <see cref="Snapshot"/>. One list, so both write the same bytes.</summary>
    private static IReadOnlyList<(string Name, Action<Stream> Write)> Parts(IReadOnlyList<(string Name, Tensor Value)> weights,
        Tensor firstMoment, Tensor secondMoment, long optimizerSteps, Tensor rng, TrainingState state, RunSpec spec) =>
    [
        (ModelPart, s => SafeTensors.Write(s, weights,
            new Dictionary<string, string> { ["format"] = "growlength-model/1", ["preset"] = spec.Model.Preset })),
        (OptimizerPart, s => SafeTensors.Write(s, [("first_moment", firstMoment), ("second_moment", secondMoment)],
            new Dictionary<string, string> { ["step_count"] = optimizerSteps.ToString(CultureInfo.InvariantCulture) })),
        // The training loop draws no random numbers of its own (data order is a pure function of the seed), but
        // the generator state is saved so anything that does (dropout, sampling) resumes exactly.
        (RngPart, s => SafeTensors.Write(s, [("cpu_generator", rng)])),
        (StatePart, s => JsonSerializer.Serialize(s, state, RunSpecJson.Options)),
        (SpecPart, s => JsonSerializer.Serialize(s, spec, RunSpecJson.Options)),
    ];

    private static Dictionary<string, string> Properties(TrainingState state) => new()
    {
        ["tokens"] = state.Progress.Tokens.ToString(CultureInfo.InvariantCulture),
        ["stage"] = state.Progress.Stage.ToString(CultureInfo.InvariantCulture),
        ["length"] = state.CurrentLength.ToString(CultureInfo.InvariantCulture),
    };

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
