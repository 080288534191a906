using System.Text;

namespace GrowLength.Training.Data;

/// <summary>The byte vocabulary: each UTF-8 byte is a token (0..255), plus end-of-text (256).</summary>
/// <remarks>
/// A small vocabulary keeps the LM head cheap, so attention is a real share of a small model's cost
/// on a CPU: the shape where growing the sequence length pays off visibly.
/// </remarks>
public sealed class ByteTokenizer : ITokenizer
{
    public const string TokenizerName = "bytes";

    // Decoding is for display (model samples can be invalid UTF-8), so it substitutes instead of throwing.
    private static readonly UTF8Encoding Lenient = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    public string Name => TokenizerName;

    public int VocabSize => 257;

    public int EndOfText => 256;

    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        var tokens = new int[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            tokens[i] = bytes[i];
        }
        return tokens;
    }

    public string Decode(ReadOnlySpan<int> tokens)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        foreach (var token in tokens)
        {
            if ((uint)token > 256)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), token, "byte tokens are 0..256");
            }
            if (token == EndOfText)
            {
                // Flush first so a multi-byte character split by end-of-text still decodes its own bytes.
                text.Append(Lenient.GetString(bytes.ToArray())).Append("<|endoftext|>");
                bytes.Clear();
            }
            else
            {
                bytes.Add((byte)token);
            }
        }
        return text.Append(Lenient.GetString(bytes.ToArray())).ToString();
    }
}
