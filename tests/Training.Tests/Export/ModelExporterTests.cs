using System.Text.Json.Nodes;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Export;
using GrowLength.Training.Model;
using GrowLength.Training.Tests.Checkpoints;
using GrowLength.Training.Tests.Engine;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace GrowLength.Training.Tests.Export;

/// <summary>One tiny run trained to completion with checkpoints, shared by the export and checkpoint-loading tests.</summary>
public sealed class TrainedTinyRun : IDisposable
{
    private readonly TinyRun tiny = new();

    public TrainedTinyRun()
    {
        Run = tiny.Open();
        CheckpointRoot = tiny.CheckpointRoot("trained");
        Trainer = new Trainer(Run, new CheckpointStore(CheckpointRoot, 2, NullLogger.Instance), NullTrainingObserver.Instance, NullLogger.Instance);
        Assert.Equal(TrainingOutcome.Completed, Trainer.Train(CancellationToken.None));
    }

    public GrowLength.Training.Run.PreparedRun Run { get; }

    public Trainer Trainer { get; }

    public string CheckpointRoot { get; }

    public void Dispose()
    {
        Trainer.Dispose();
        Run.Dispose();
        tiny.Dispose();
    }
}

/// <summary>Llama-style export of a trained model, and checkpoints that do not fit or do not verify.</summary>
public sealed class ModelExporterTests(TrainedTinyRun trained) : IClassFixture<TrainedTinyRun>, IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();

    [Fact]
    public void ExportWritesLlamaTensorsThatMatchTheTrainedWeights()
    {
        using var scope = NewDisposeScope();
        var model = trained.Trainer.Engine.Model;
        var config = model.Config;
        var files = ModelExporter.Export(model, temp.Combine("export"), "bytes", 64);
        Assert.Equal([temp.Combine("export", "model.safetensors"), temp.Combine("export", "config.json")], files);

        var (tensors, metadata) = SafeTensors.Read(files[0]);
        Assert.Equal("pt", metadata["format"]);
        var ours = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach());
        long d = config.Dim, h = config.MlpHidden, v = config.VocabSize;
        Assert.Equal(257, v);

        var expected = new Dictionary<string, long[]> { ["model.embed_tokens.weight"] = [v, d], ["model.norm.weight"] = [d] };
        for (int i = 0; i < config.Layers; i++)
        {
            var p = $"model.layers.{i}.";
            expected[p + "input_layernorm.weight"] = [d];
            expected[p + "post_attention_layernorm.weight"] = [d];
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "o_proj" }) expected[$"{p}self_attn.{proj}.weight"] = [d, d];
            expected[p + "mlp.gate_proj.weight"] = [h, d];
            expected[p + "mlp.up_proj.weight"] = [h, d];
            expected[p + "mlp.down_proj.weight"] = [d, h];
        }
        Assert.True(config.TieEmbeddings); // so there is no lm_head.weight
        Assert.Equal(expected.Keys.Order(), tensors.Keys.Order());
        foreach (var (name, shape) in expected) Assert.True(tensors[name].shape.SequenceEqual(shape), $"{name}: [{string.Join(", ", tensors[name].shape)}]");

        Assert.True(Same(ours["embed.weight"], tensors["model.embed_tokens.weight"]));
        Assert.True(Same(ours["norm.weight"], tensors["model.norm.weight"]));
        for (int i = 0; i < config.Layers; i++)
        {
            var qkv = ours[$"blocks.{i}.attn.qkv.weight"];
            Assert.Equal([3 * d, d], qkv.shape);
            var p = $"model.layers.{i}.self_attn.";
            Assert.True(Same(qkv[TensorIndex.Slice(0, d)], tensors[p + "q_proj.weight"]), $"layer {i} q");
            Assert.True(Same(qkv[TensorIndex.Slice(d, 2 * d)], tensors[p + "k_proj.weight"]), $"layer {i} k");
            Assert.True(Same(qkv[TensorIndex.Slice(2 * d, 3 * d)], tensors[p + "v_proj.weight"]), $"layer {i} v");
            Assert.True(Same(ours[$"blocks.{i}.attn.proj.weight"], tensors[p + "o_proj.weight"]));
            Assert.True(Same(ours[$"blocks.{i}.mlp.down.weight"], tensors[$"model.layers.{i}.mlp.down_proj.weight"]));
            // The q and k chunks differ: a wrong split would pass the shape checks alone.
            Assert.False(Same(tensors[p + "q_proj.weight"], tensors[p + "k_proj.weight"]));
        }
    }

    [Fact]
    public void ExportWritesAHuggingFaceConfig()
    {
        var model = trained.Trainer.Engine.Model;
        var files = ModelExporter.Export(model, temp.Combine("export"), "bytes", 64);
        var json = JsonNode.Parse(File.ReadAllText(files[1]))!;
        Assert.Equal("llama", (string?)json["model_type"]);
        Assert.Equal("LlamaForCausalLM", (string?)json["architectures"]![0]);
        Assert.Equal(32, (int)json["hidden_size"]!);
        Assert.Equal(2, (int)json["num_hidden_layers"]!);
        Assert.Equal(2, (int)json["num_attention_heads"]!);
        Assert.Equal(96, (int)json["intermediate_size"]!);
        Assert.Equal(257, (int)json["vocab_size"]!);
        Assert.True((bool)json["tie_word_embeddings"]!);
        Assert.Equal(256, (int)json["max_position_embeddings"]!);
        Assert.Equal(64, (int)json["growlength"]!["trained_length"]!);
        Assert.Equal("bytes", (string?)json["growlength"]!["tokenizer"]);
    }

    [Fact]
    public void ACheckpointOfAnotherModelShapeIsRefusedNamingTheModelFile()
    {
        var handle = new CheckpointStore(trained.CheckpointRoot, 2).OpenLatestValid();
        Assert.NotNull(handle);
        var wider = ModelPresets.Tiny() with { VocabSize = 257, Dim = 64, MlpHidden = 160 };
        using var engine = new StepEngine(wider, 1);
        var e = Assert.Throws<RunInputException>(() => TrainingCheckpoint.LoadInto(handle, engine));
        Assert.Equal(handle.PartPath(TrainingCheckpoint.ModelPart), e.Subject);
        Assert.Contains("model shape", e.Problem);

        var deeper = ModelPresets.Tiny() with { VocabSize = 257, Layers = 3 };
        using var engine3 = new StepEngine(deeper, 1);
        e = Assert.Throws<RunInputException>(() => TrainingCheckpoint.LoadInto(handle, engine3));
        Assert.Equal(handle.PartPath(TrainingCheckpoint.ModelPart), e.Subject);
        Assert.Contains("blocks.2", e.Problem);
    }

    [Fact]
    public void ACheckpointWithLayersTheModelLacksIsRefusedNotLoadedInPart()
    {
        // Every tensor a 1-layer model needs is in the 2-layer checkpoint with the right shape; the leftover layer
        // is what shows the checkpoint is of another model, and loading it in part would give a silently wrong model.
        var handle = new CheckpointStore(trained.CheckpointRoot, 2).OpenLatestValid();
        Assert.NotNull(handle);
        using var shallower = new GrowLengthTransformer(ModelPresets.Tiny() with { VocabSize = 257, Layers = 1 }, 1);
        var e = Assert.Throws<RunInputException>(() => TrainingCheckpoint.LoadModelInto(handle, shallower));
        Assert.Equal(handle.PartPath(TrainingCheckpoint.ModelPart), e.Subject);
        Assert.Contains("tensor 'blocks.1.", e.Problem);
        Assert.Contains("is not part of the model: the checkpoint is of a different model shape", e.Problem);

        using var wider = new GrowLengthTransformer(ModelPresets.Tiny() with { VocabSize = 257, MlpHidden = 128 }, 1);
        e = Assert.Throws<RunInputException>(() => TrainingCheckpoint.LoadModelInto(handle, wider));
        Assert.Contains("tensor 'blocks.0.mlp.gate.weight' has shape [96, 32], the model needs [128, 32]", e.Problem);
    }

    [Fact]
    public void LoadingOnlyTheModelGivesTheTrainedWeights()
    {
        var handle = new CheckpointStore(trained.CheckpointRoot, 2).OpenLatestValid();
        Assert.NotNull(handle);
        using var model = new GrowLengthTransformer(trained.Run.Spec.Model, 999);
        TrainingCheckpoint.LoadModelInto(handle, model);
        var ours = trained.Trainer.Engine.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in model.named_parameters()) Assert.True(Same(ours[name], p), name);
    }

    [Fact]
    public void ACheckpointOfTheSameShapeLoadsTheTrainedWeights()
    {
        var handle = new CheckpointStore(trained.CheckpointRoot, 2).OpenLatestValid();
        Assert.NotNull(handle);
        Assert.Equal(24, handle.Step);
        using var engine = new StepEngine(trained.Run.Spec.Model, 999);
        TrainingCheckpoint.LoadInto(handle, engine);
        Assert.True(Same(trained.Trainer.Engine.Parameters.Values, engine.Parameters.Values));
    }

    /// <summary>A copy of the trained run's checkpoints (steps 20 and 24) to damage.</summary>
    private string CopyCheckpoints()
    {
        var root = temp.Combine("checkpoints");
        foreach (var file in Directory.EnumerateFiles(trained.CheckpointRoot, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(root, Path.GetRelativePath(trained.CheckpointRoot, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return root;
    }

    [Theory]
    [InlineData(true, "size mismatch")]
    [InlineData(false, "checksum mismatch")]
    public void ADamagedModelPartIsDetectedAndTheStoreFallsBack(bool truncate, string problem)
    {
        var root = CopyCheckpoints();
        var model = Path.Combine(root, "step-000000000024", TrainingCheckpoint.ModelPart);
        if (truncate)
        {
            using var stream = new FileStream(model, FileMode.Open);
            stream.SetLength(stream.Length / 2);
        }
        else
        {
            // Same size, one byte flipped near the end (inside the tensor data, past the header).
            var bytes = File.ReadAllBytes(model);
            bytes[^10] ^= 0x40;
            File.WriteAllBytes(model, bytes);
        }
        var log = new RecordingLogger();
        var store = new CheckpointStore(root, 2, log);

        var e = Assert.Throws<RunInputException>(() => store.Open(24));
        Assert.Equal(model, e.Subject);
        Assert.Contains(problem, e.Problem);

        var handle = store.OpenLatestValid();
        Assert.NotNull(handle);
        Assert.Equal(20, handle.Step);
        var warning = Assert.Single(log.Warnings);
        Assert.Contains(problem, warning);
        Assert.Contains("step-000000000024/model.safetensors", warning);
        Assert.Contains("falling back to step-000000000020", warning);

        // The fallback checkpoint is usable: it loads into an engine of the run's shape.
        using var engine = new StepEngine(trained.Run.Spec.Model, 1);
        TrainingCheckpoint.LoadInto(handle, engine);
        Assert.Equal(20, TrainingCheckpoint.ReadState(handle).Progress.Step);
    }

    [Fact]
    public void WhenEveryCheckpointIsDamagedThereIsNoneToResumeFrom()
    {
        var root = CopyCheckpoints();
        foreach (var folder in Directory.GetDirectories(root))
            File.AppendAllText(Path.Combine(folder, TrainingCheckpoint.OptimizerPart), "x");
        var log = new RecordingLogger();
        Assert.Null(new CheckpointStore(root, 2, log).OpenLatestValid());
        Assert.Equal(2, log.Warnings.Count());
        Assert.Contains(log.Warnings, w => w.Contains("no earlier checkpoint to fall back to"));
    }
}
