namespace GrowLength.Training.Data;

/// <summary>Turns text into token ids and back; one implementation per vocabulary a run can name.</summary>
public interface ITokenizer
{
    /// <summary>The name a run's config uses (<c>data.tokenizer</c>), recorded in every packed corpus.</summary>
    string Name { get; }

    /// <summary>Number of distinct token ids, end-of-text included; ids are 0 .. VocabSize-1.</summary>
    int VocabSize { get; }

    /// <summary>The id that separates documents in a packed corpus.</summary>
    int EndOfText { get; }

    /// <summary>Encodes text; never emits <see cref="EndOfText"/> for ordinary text.</summary>
    int[] Encode(string text);

    /// <summary>Decodes ids for display; <see cref="EndOfText"/> is rendered as <c>&lt;|endoftext|&gt;</c>.</summary>
    string Decode(ReadOnlySpan<int> tokens);
}
