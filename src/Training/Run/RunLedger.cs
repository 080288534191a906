using System.Text;
using System.Text.Json;
using GrowLength.Training.Engine;

namespace GrowLength.Training.Run;

/// <summary>One rank's share of a step: rows FirstRow, FirstRow + RowStride, … (RowCount of them); Worker is the worker's stable id.</summary>
public sealed record LedgerShare(int Rank, long Worker, int FirstRow, int RowStride, int RowCount);

/// <summary>One committed step; After is the run's training state after this step (what a restarting coordinator resumes from).</summary>
public sealed record LedgerEntry(long Epoch, long Step, int Length, long StreamOffset, int Rows, long Tokens, IReadOnlyList<LedgerShare> Shares, TrainingState After);

/// <summary>The result of checking a ledger: whether every token was trained exactly once, and the first problem if not.</summary>
public sealed record LedgerCheck(bool Exact, long Steps, long Tokens, long TokensRetrained, int Epochs, string? Problem, LedgerEntry? Last);

/// <summary>A run's append-only JSON-lines ledger of committed steps: proof of exactly-once training and the coordinator's write-ahead log.</summary>
/// <remarks>
/// The coordinator appends a step's line before it tells the workers the step is committed, so the last line
/// is the newest committed state even when the durable state file lags behind it.
/// </remarks>
public static class RunLedger
{
    public const string FileName = "ledger.jsonl";

    // Rows a step may have for the check to track them: far beyond any real batch, and a bound on what a
    // corrupt entry can make the check allocate.
    private const int MaxRowsChecked = 1 << 24;

    // A line longer than this cannot be an entry, so a tail that long is torn without reading it.
    private const long MaxLineBytes = 64L << 20;

    // The checkpoints' JSON shape (camelCase, NaN allowed, unknown keys rejected) on one line, and missing
    // members are errors rather than nulls that would surface later as a NullReferenceException.
    private static readonly JsonSerializerOptions LineOptions = new(RunSpecJson.Options)
    {
        WriteIndented = false,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>The ledger's path in a run's checkpoint folder.</summary>
    public static string PathIn(string runCheckpointFolder) => Path.Combine(runCheckpointFolder, FileName);

    /// <summary>An entry as one JSON line, without the newline.</summary>
    public static string Line(LedgerEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return JsonSerializer.Serialize(entry, LineOptions);
    }

    /// <summary>Parses one line; a line that is not an entry throws <see cref="FormatException"/> naming the problem.</summary>
    public static LedgerEntry ParseLine(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        LedgerEntry? entry;
        try
        {
            entry = JsonSerializer.Deserialize<LedgerEntry>(line, LineOptions);
        }
        catch (JsonException e)
        {
            var where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" at {e.Path.TrimStart('$', '.')}";
            throw new FormatException($"not a ledger entry{where}: {e.Message.Split('\n')[0].Trim()}", e);
        }

        if (entry is null) throw new FormatException("not a ledger entry: the line is null.");
        // Nullable annotations are not enforced on collection elements.
        if (entry.Shares.Any(s => s is null)) throw new FormatException($"not a ledger entry: step {entry.Step} has a null share.");
        return entry;
    }

    /// <summary>Appends an entry as one line, creating the folder and first repairing a torn last line.</summary>
    /// <remarks>
    /// The line goes to the operating system in one unbuffered write, which survives the process being killed;
    /// there is no fsync, so it need not survive a power cut.
    /// </remarks>
    public static void Append(string path, LedgerEntry entry)
    {
        var bytes = Encoding.UTF8.GetBytes(Line(entry) + "\n");
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        using var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
        RepairTail(stream);
        stream.Seek(0, SeekOrigin.End);
        stream.Write(bytes);
        stream.Flush();
    }

    /// <summary>Every entry in file order: none when the file does not exist, and a torn last line is left out.</summary>
    /// <remarks>
    /// A torn line is the last one, without its newline, and unparsable: a write the process died in the middle of.
    /// Any other bad line is corruption and throws <see cref="FormatException"/> naming the file and line.
    /// </remarks>
    public static IReadOnlyList<LedgerEntry> Read(string path)
    {
        if (!File.Exists(path)) return [];
        var entries = new List<LedgerEntry>();
        // ReadWrite sharing: a live coordinator may hold the file open for appending while a tool reads it.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var number = 0;
        foreach (var (line, terminated) in Lines(reader))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                entries.Add(ParseLine(line));
            }
            catch (FormatException) when (!terminated)
            {
                // Only the last line can lack its newline: the torn tail of a killed writer, not corruption.
            }
            catch (FormatException e)
            {
                throw new FormatException($"{path} line {number}: {e.Message}", e);
            }
        }

        return entries;
    }

    /// <summary>Checks that the committed steps consumed the token stream contiguously with every row trained exactly once.</summary>
    /// <remarks>
    /// An entry at or before the last committed step is a rollback (the run reloaded a checkpoint): the steps
    /// from there on leave the history and their tokens count as retrained. The walk goes on past a problem
    /// so the totals cover the whole ledger, but only the first problem is reported.
    /// </remarks>
    public static LedgerCheck Check(IReadOnlyList<LedgerEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var history = new List<LedgerEntry>();
        var epochs = new HashSet<long>();
        long retrained = 0;
        string? problem = null;
        foreach (var entry in entries)
        {
            epochs.Add(entry.Epoch);
            if (history.Count > 0 && entry.Step <= history[^1].Step)
            {
                // The history is in ascending step order, so the undone steps are a suffix of it.
                var from = history.FindIndex(e => e.Step >= entry.Step);
                for (var i = from; i < history.Count; i++) retrained = checked(retrained + history[i].Tokens);
                history.RemoveRange(from, history.Count - from);
            }

            problem ??= StepProblem(entry) ?? LinkProblem(history.Count == 0 ? null : history[^1], entry);
            history.Add(entry);
        }

        long tokens = 0;
        foreach (var entry in history) tokens = checked(tokens + entry.Tokens);
        return new LedgerCheck(problem is null, history.Count, tokens, retrained, epochs.Count, problem, history.Count == 0 ? null : history[^1]);
    }

    /// <summary>Reads and checks the ledger file at <paramref name="path"/>.</summary>
    public static LedgerCheck Check(string path) => Check(Read(path));

    /// <summary>What is wrong within one step: its token count, its ranks, or rows not covered exactly once.</summary>
    private static string? StepProblem(LedgerEntry entry)
    {
        var s = entry.Step;
        if (s < 0) return $"step {s}: its number is negative";
        if (entry.Length <= 0) return $"step {s}: its length {entry.Length} is not positive";
        if (entry.Rows <= 0) return $"step {s}: it has {entry.Rows} rows";
        if (entry.Rows > MaxRowsChecked) return $"step {s}: {entry.Rows} rows is more than the check tracks ({MaxRowsChecked}); the entry is likely corrupt";
        if (entry.StreamOffset < 0) return $"step {s}: its stream offset {entry.StreamOffset} is negative";
        var expected = (long)entry.Rows * entry.Length;
        if (entry.Tokens != expected) return $"step {s}: it records {entry.Tokens} tokens, but {entry.Rows} rows of {entry.Length} are {expected}";

        var world = entry.Shares.Count;
        if (world == 0) return $"step {s}: it has no shares";
        var seen = new bool[world];
        foreach (var share in entry.Shares)
        {
            if (share.Rank < 0 || share.Rank >= world) return $"step {s}: rank {share.Rank} is outside ranks 0..{world - 1} of its {world} shares";
            if (seen[share.Rank]) return $"step {s}: rank {share.Rank} has two shares";
            seen[share.Rank] = true;
            if (share.RowCount < 0) return $"step {s}: rank {share.Rank} reports {share.RowCount} rows";
        }

        var owner = new int[entry.Rows];
        Array.Fill(owner, -1);
        foreach (var share in entry.Shares)
        {
            // The walk stops at the first row outside the step or trained twice, so a corrupt count cannot run long.
            for (long k = 0; k < share.RowCount; k++)
            {
                var row = share.FirstRow + (k * share.RowStride);
                if (row < 0 || row >= entry.Rows) return $"step {s}: rank {share.Rank} trained row {row}, outside the step's rows 0..{entry.Rows - 1}";
                var other = owner[row];
                if (other == share.Rank) return $"step {s}: row {row} was trained twice by rank {share.Rank}";
                if (other >= 0) return $"step {s}: row {row} was trained by ranks {Math.Min(other, share.Rank)} and {Math.Max(other, share.Rank)}";
                owner[row] = share.Rank;
            }
        }

        var missing = Array.IndexOf(owner, -1);
        return missing >= 0 ? $"step {s}: row {missing} was trained by no rank" : null;
    }

    /// <summary>What is wrong between a step and the one before it in the history: a missing step or a break in the stream.</summary>
    private static string? LinkProblem(LedgerEntry? previous, LedgerEntry entry)
    {
        if (previous is null)
        {
            if (entry.Step != 0) return $"step {entry.Step} begins the history, which starts at step 0: {Missing(0, entry.Step - 1)}";
            return entry.StreamOffset == 0 ? null
                : $"step 0 starts at stream offset {entry.StreamOffset}, not 0: tokens 0..{entry.StreamOffset} were skipped";
        }

        if (entry.Step != previous.Step + 1) return $"step {entry.Step} follows step {previous.Step}: {Missing(previous.Step + 1, entry.Step - 1)}";

        var end = checked(previous.StreamOffset + ((long)previous.Rows * previous.Length));
        if (entry.StreamOffset == end) return null;
        var what = entry.StreamOffset > end
            ? $"tokens {end}..{entry.StreamOffset} were skipped"
            : $"tokens {entry.StreamOffset}..{end} were trained twice";
        return $"step {entry.Step} starts at stream offset {entry.StreamOffset}, but step {previous.Step} ended at offset {end}: {what}";
    }

    private static string Missing(long first, long last) => first == last ? $"step {first} is missing" : $"steps {first}..{last} are missing";

    /// <summary>The file's lines split on '\n' only, each with whether its newline was there.</summary>
    private static IEnumerable<(string Line, bool Terminated)> Lines(TextReader reader)
    {
        var buffer = new char[64 * 1024];
        var line = new StringBuilder();
        int read;
        while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            var start = 0;
            for (var i = 0; i < read; i++)
            {
                if (buffer[i] != '\n') continue;
                line.Append(buffer, start, i - start);
                yield return (line.ToString(), true);
                line.Clear();
                start = i + 1;
            }

            line.Append(buffer, start, read - start);
        }

        if (line.Length > 0) yield return (line.ToString(), false);
    }

    /// <summary>Makes the file end with a newline: a torn last line is cut off, a complete one without its newline gets it.</summary>
    /// <remarks>
    /// A complete entry missing only its newline is kept because <see cref="Read"/> counts it as committed;
    /// cutting it would make the next append leave a gap where a restarted coordinator saw a step.
    /// </remarks>
    private static void RepairTail(FileStream stream)
    {
        var length = stream.Length;
        if (length == 0) return;
        stream.Position = length - 1;
        if (stream.ReadByte() == '\n') return;

        var cut = 0L;
        var buffer = new byte[4096];
        for (var position = length; position > 0;)
        {
            var count = (int)Math.Min(buffer.Length, position);
            position -= count;
            stream.Position = position;
            stream.ReadExactly(buffer, 0, count);
            var newline = Array.LastIndexOf(buffer, (byte)'\n', count - 1, count);
            if (newline >= 0)
            {
                cut = position + newline + 1;
                break;
            }
        }

        if (TailIsEntry(stream, cut, length))
        {
            stream.Position = length;
            stream.WriteByte((byte)'\n');
        }
        else
        {
            stream.SetLength(cut);
        }
    }

    private static bool TailIsEntry(FileStream stream, long start, long end)
    {
        if (end - start > MaxLineBytes) return false;
        var tail = new byte[end - start];
        stream.Position = start;
        stream.ReadExactly(tail);
        try
        {
            ParseLine(Encoding.UTF8.GetString(tail));
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
