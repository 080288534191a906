namespace GrowLength.Training.Data;

/// <summary>Maps the <c>data.tokenizer</c> setting to a tokenizer.</summary>
public static class TokenizerCatalog
{
    /// <summary>The names <see cref="Create"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = [ByteTokenizer.TokenizerName, Gpt2Tokenizer.TokenizerName];

    public static ITokenizer Create(string name) => name switch
    {
        ByteTokenizer.TokenizerName => new ByteTokenizer(),
        Gpt2Tokenizer.TokenizerName => new Gpt2Tokenizer(),
        _ => throw new RunInputException(
            "data.tokenizer", $"unknown tokenizer '{name}'; known: {string.Join(", ", Names)}"),
    };
}
