using System.Text.Json;
using System.Text.Json.Serialization;

namespace GrowLength.Training.Data;

/// <summary>The contents of a packed corpus's <c>corpus.json</c>: what the token files hold and where they came from.</summary>
/// <remarks>
/// <c>format</c> is the layout version of the packed folder (bumped when the files change meaning);
/// <c>tokenType</c> is <c>uint16</c> or <c>int32</c>, little-endian.
/// </remarks>
public sealed record CorpusManifest(
    int Format,
    string Tokenizer,
    int VocabSize,
    int EndOfText,
    string TokenType,
    CorpusSplitInfo Train,
    CorpusSplitInfo Validation,
    string Source,
    string SourceFingerprint,
    long Seed,
    double ValidationFraction)
{
    public const int CurrentFormat = 1;
    public const string FileName = "corpus.json";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Bytes per token in the token files.</summary>
    [JsonIgnore]
    public int TokenBytes => TokenType == "uint16" ? 2 : 4;

    /// <summary>The narrowest token type that holds every id of the vocabulary.</summary>
    public static string TokenTypeFor(int vocabSize) => vocabSize <= 65536 ? "uint16" : "int32";

    /// <summary>Bytes per token of <see cref="TokenTypeFor"/>.</summary>
    public static int TokenBytesFor(int vocabSize) => TokenTypeFor(vocabSize) == "uint16" ? 2 : 4;

    public static string TokenFileName(CorpusSplit split) => split == CorpusSplit.Train ? "train.tokens" : "validation.tokens";

    public static string IndexFileName(CorpusSplit split) => split == CorpusSplit.Train ? "train.index" : "validation.index";

    public CorpusSplitInfo For(CorpusSplit split) => split == CorpusSplit.Train ? Train : Validation;
}

/// <summary>Token and document counts of one split.</summary>
public sealed record CorpusSplitInfo(long Tokens, long Documents);
