namespace GrowLength.Training.Data;

/// <summary>Cuts a long text into pieces that tokenize exactly as the whole would, so a huge document never sits in memory at once.</summary>
/// <remarks>
/// Pieces end just after a lone newline between two non-whitespace characters. In GPT-2's
/// pre-tokenizer whitespace only ever joins the token after it as a single leading space, and a run
/// of whitespace is one pre-token, so such a newline is a pre-token of its own in the whole text
/// and at the end of a piece alike, and the next character always starts one: tokenizing the pieces
/// and concatenating gives the same ids as tokenizing the whole text. Only a line longer than the
/// buffer is cut mid-line (between characters, never inside a surrogate pair).
/// </remarks>
internal sealed class TextChunker(ITokenizer tokenizer, Action<ReadOnlySpan<int>> emit)
{
    internal const int TargetChars = 1 << 16;

    private readonly System.Text.StringBuilder _pending = new();

    public void Append(ReadOnlySpan<char> text)
    {
        _pending.Append(text);
        if (_pending.Length >= TargetChars)
        {
            FlushUpToCut();
        }
    }

    /// <summary>Encodes whatever is left; call once at the end of the document.</summary>
    public void Finish()
    {
        if (_pending.Length > 0)
        {
            emit(tokenizer.Encode(_pending.ToString()));
            _pending.Clear();
        }
    }

    private void FlushUpToCut()
    {
        var cut = -1;
        for (var i = _pending.Length - 1; i >= 2; i--)
        {
            if (_pending[i - 1] == '\n' && !char.IsWhiteSpace(_pending[i]) && !char.IsWhiteSpace(_pending[i - 2]))
            {
                cut = i;
                break;
            }
        }
        if (cut < 0)
        {
            if (_pending.Length < 4 * TargetChars)
            {
                return; // wait for a clean cut a little longer before giving up on exactness
            }
            cut = _pending.Length - 1;
            if (char.IsHighSurrogate(_pending[cut - 1]))
            {
                cut--;
            }
        }
        emit(tokenizer.Encode(_pending.ToString(0, cut)));
        _pending.Remove(0, cut);
    }
}
