using TorchSharp;

namespace GrowLength.Training.Checkpoints;

/// <summary>Checks that the tensors read from a weights file are exactly those a model needs: every one present, none
/// unknown, each of the model's shape and floating point.</summary>
/// <remarks>Loading copies tensor by tensor; without this a missing tensor would leave random weights, an extra one
/// (a deeper model's layer) would be ignored silently, and a wrong shape would fail inside libtorch with a message that
/// names neither the file nor the tensor.</remarks>
public static class ModelTensorCheck
{
    /// <summary>Throws <see cref="RunInputException"/> naming <paramref name="file"/> and the first tensor that does not fit.</summary>
    /// <param name="file">the weights file, the subject of the error.</param>
    /// <param name="found">the tensors in the file by name.</param>
    /// <param name="expected">the names and shapes the model needs, in the order to report them.</param>
    /// <param name="mismatch">why a tensor would not fit, ending each message: "the checkpoint is of a different model shape".</param>
    public static void Check(
        string file, IReadOnlyDictionary<string, torch.Tensor> found, IReadOnlyList<(string Name, long[] Shape)> expected, string mismatch)
    {
        ArgumentNullException.ThrowIfNull(found);
        ArgumentNullException.ThrowIfNull(expected);
        foreach (var (name, shape) in expected)
        {
            if (!found.TryGetValue(name, out var tensor))
                throw new RunInputException(file, $"has no tensor '{name}' (the model needs {Format(shape)}): {mismatch}.");
            if (!tensor.shape.SequenceEqual(shape))
                throw new RunInputException(file, $"tensor '{name}' has shape {Format(tensor.shape)}, the model needs {Format(shape)}: {mismatch}.");
            if (!tensor.is_floating_point())
                throw new RunInputException(file, $"tensor '{name}' is {tensor.dtype}; model weights are floating point.");
        }
        var names = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        if (found.Keys.Where(n => !names.Contains(n)).Order(StringComparer.Ordinal).FirstOrDefault() is { } unknown)
            throw new RunInputException(file, $"tensor '{unknown}' {Format(found[unknown].shape)} is not part of the model: {mismatch}.");
    }

    /// <summary>A shape as [a, b].</summary>
    public static string Format(IEnumerable<long> shape) => $"[{string.Join(", ", shape)}]";
}
