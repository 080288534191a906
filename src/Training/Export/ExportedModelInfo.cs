using GrowLength.Training.Model;

namespace GrowLength.Training.Export;

/// <summary>What an exported model's config.json says about it: the model shape, the tokenizer and the trained length.</summary>
/// <param name="Folder">the export folder.</param>
/// <param name="Model">the shape, from the growlength.model section.</param>
/// <param name="Tokenizer">the tokenizer the model was trained with (bytes, gpt2).</param>
/// <param name="TrainedLength">the longest sequence length trained.</param>
/// <param name="ValidationFraction">the training corpus's held-out share, when the export records it.</param>
/// <param name="SplitSeed">the seed of that corpus's document split, when the export records it.</param>
public sealed record ExportedModelInfo(string Folder, ModelConfig Model, string Tokenizer, int TrainedLength,
    double? ValidationFraction = null, long? SplitSeed = null)
{
    /// <summary>config.json's path.</summary>
    public string ConfigPath => Path.Combine(Folder, ModelExporter.ConfigFile);

    /// <summary>model.safetensors' path.</summary>
    public string WeightsPath => Path.Combine(Folder, ModelExporter.WeightsFile);
}
