using GrowLength.Training.Engine;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;

namespace GrowLength.Training.Tests.Run;

/// <summary>The run ledger: its exactly-once check over joins, leaves and rollbacks, and its file's round trip and torn-tail repair.</summary>
public sealed class RunLedgerTests
{
    /// <summary>One planned step: its epoch, length, rows and world size.</summary>
    private sealed record Plan(long Epoch, int Length, int Rows, int World);

    /// <summary>A step dealt as the coordinator deals it: rank r trains rows r, r + W, r + 2W, ….</summary>
    private static LedgerEntry Entry(long step, long offset, Plan plan)
    {
        var shares = Enumerable.Range(0, plan.World)
            .Select(r => new LedgerShare(r, 100 + r, r, plan.World, r < plan.Rows ? ((plan.Rows - r - 1) / plan.World) + 1 : 0))
            .ToList();
        var tokens = (long)plan.Rows * plan.Length;
        var after = new TrainingState(
            TrainingProgress.Initial with { Step = step + 1, Tokens = offset + tokens, ElapsedSeconds = step + 1 },
            [new StageTransition(0, plan.Length, 0, 0, 0)]);
        return new LedgerEntry(plan.Epoch, step, plan.Length, offset, plan.Rows, tokens, shares, after);
    }

    /// <summary>Steps first, first + 1, … consuming the stream contiguously from <paramref name="offset"/>.</summary>
    private static List<LedgerEntry> Steps(long first, long offset, params Plan[] plans)
    {
        var entries = new List<LedgerEntry>();
        foreach (var plan in plans)
        {
            entries.Add(Entry(first + entries.Count, offset, plan));
            offset += (long)plan.Rows * plan.Length;
        }

        return entries;
    }

    private static List<LedgerEntry> Simple(int count) => Steps(0, 0, Enumerable.Repeat(new Plan(1, 16, 8, 2), count).ToArray());

    private static LedgerEntry WithShare(LedgerEntry entry, int rank, Func<LedgerShare, LedgerShare> change) =>
        entry with { Shares = entry.Shares.Select(s => s.Rank == rank ? change(s) : s).ToList() };

    [Fact]
    public void ThreeEpochsWithTheWorldGrowingAndShrinkingAreExact()
    {
        // Epoch 1: two workers; epoch 2: one left; epoch 3: three, at a longer length and an uneven deal (7 rows over 3).
        var entries = Steps(0, 0,
            new Plan(1, 16, 8, 2), new Plan(1, 16, 8, 2), new Plan(1, 16, 8, 2),
            new Plan(2, 16, 8, 1), new Plan(2, 32, 4, 1),
            new Plan(3, 32, 7, 3), new Plan(3, 32, 7, 3), new Plan(3, 32, 7, 3));
        Assert.Equal([3, 2, 2], entries[^1].Shares.Select(s => s.RowCount));

        var check = RunLedger.Check(entries);

        Assert.Null(check.Problem);
        Assert.True(check.Exact);
        var tokens = (4 * 8 * 16) + (4 * 32) + (3 * 7 * 32);
        Assert.Equal((8L, (long)tokens, 0L, 3), (check.Steps, check.Tokens, check.TokensRetrained, check.Epochs));
        Assert.Same(entries[^1], check.Last);
        Assert.Equal(tokens, check.Last!.After.Progress.Tokens);
    }

    [Fact]
    public void AnEmptyLedgerIsExactWithNothingInIt() =>
        Assert.Equal(new LedgerCheck(true, 0, 0, 0, 0, null, null), RunLedger.Check([]));

    [Fact]
    public void ARowTrainedByTwoRanksIsNamed()
    {
        var entries = Simple(3);
        // Rank 1 should train rows 1, 3, 5, 7; it trains rank 0's rows instead.
        entries[1] = WithShare(entries[1], 1, s => s with { FirstRow = 0 });

        var check = RunLedger.Check(entries);

        Assert.False(check.Exact);
        Assert.Equal("step 1: row 0 was trained by ranks 0 and 1", check.Problem);
    }

    [Fact]
    public void ARowNoRankTrainedIsNamed()
    {
        var entries = Simple(3);
        entries[2] = WithShare(entries[2], 1, s => s with { RowCount = 3 });

        var check = RunLedger.Check(entries);

        Assert.False(check.Exact);
        Assert.Equal("step 2: row 7 was trained by no rank", check.Problem);
    }

    [Theory]
    [InlineData(4, "step 1: rank 1 trained row 9, outside the step's rows 0..7")]
    [InlineData(-5, "step 1: rank 1 reports -1 rows")]
    public void ARowOrRowCountOutsideTheStepIsNamed(int delta, string problem)
    {
        var entries = Simple(2);
        entries[1] = WithShare(entries[1], 1, s => s with { RowCount = s.RowCount + delta });

        Assert.Equal(problem, RunLedger.Check(entries).Problem);
    }

    [Fact]
    public void RanksMustBeZeroToTheWorldSizeEachOnce()
    {
        var twice = Simple(1);
        twice[0] = WithShare(twice[0], 1, s => s with { Rank = 0 });
        var outside = Simple(1);
        outside[0] = WithShare(outside[0], 1, s => s with { Rank = 2 });

        Assert.Equal("step 0: rank 0 has two shares", RunLedger.Check(twice).Problem);
        Assert.Equal("step 0: rank 2 is outside ranks 0..1 of its 2 shares", RunLedger.Check(outside).Problem);
    }

    [Fact]
    public void TokensMustBeRowsTimesLength()
    {
        var entries = Simple(2);
        entries[1] = entries[1] with { Tokens = 127 };

        Assert.Equal("step 1: it records 127 tokens, but 8 rows of 16 are 128", RunLedger.Check(entries).Problem);
    }

    [Fact]
    public void ASkippedStepIsAGap()
    {
        var entries = Simple(4);
        // Step 2 is gone, but step 3 reads on from step 1's end, so only the step numbers show it.
        entries.RemoveAt(2);
        entries[2] = entries[2] with { StreamOffset = entries[1].StreamOffset + entries[1].Tokens };

        var check = RunLedger.Check(entries);

        Assert.False(check.Exact);
        Assert.Equal("step 3 follows step 1: step 2 is missing", check.Problem);
    }

    [Fact]
    public void TheHistoryStartsAtStepZeroAndOffsetZero()
    {
        Assert.Equal("step 1 begins the history, which starts at step 0: step 0 is missing",
            RunLedger.Check(Simple(3).Skip(1).ToList()).Problem);
        var shifted = Simple(1);
        shifted[0] = shifted[0] with { StreamOffset = 5 };
        Assert.Equal("step 0 starts at stream offset 5, not 0: tokens 0..5 were skipped", RunLedger.Check(shifted).Problem);
    }

    [Theory]
    [InlineData(16, "step 2 starts at stream offset 272, but step 1 ended at offset 256: tokens 256..272 were skipped")]
    [InlineData(-16, "step 2 starts at stream offset 240, but step 1 ended at offset 256: tokens 240..256 were trained twice")]
    public void AStepNotStartingWhereTheLastEndedIsNamed(int shift, string problem)
    {
        var entries = Simple(4);
        entries[2] = entries[2] with { StreamOffset = entries[2].StreamOffset + shift };

        var check = RunLedger.Check(entries);

        Assert.False(check.Exact);
        Assert.Equal(problem, check.Problem);
    }

    [Fact]
    public void ARollbackRetrainsTheUndoneStepsAndStaysExact()
    {
        var plan = new Plan(1, 16, 8, 2);
        var first = Steps(0, 0, Enumerable.Repeat(plan, 6).ToArray());
        // The run reloads the checkpoint at step 3 and trains 3..6 in a new epoch with one worker.
        var again = Steps(3, first[3].StreamOffset, Enumerable.Repeat(new Plan(2, 16, 8, 1), 4).ToArray());

        var check = RunLedger.Check([.. first, .. again]);

        Assert.Null(check.Problem);
        Assert.True(check.Exact);
        Assert.Equal(7, check.Steps);
        Assert.Equal(first.Skip(3).Sum(e => e.Tokens), check.TokensRetrained);
        Assert.Equal(7 * 128, check.Tokens);
        Assert.Equal(2, check.Epochs);
        Assert.Same(again[^1], check.Last);
    }

    [Fact]
    public void AfterARollbackTheStreamMustResumeAtTheCheckpoint()
    {
        var first = Simple(6);
        // Reloading step 3's checkpoint but reading on from where step 5 ended skips steps 3..5's tokens.
        var again = Steps(3, first[^1].StreamOffset + first[^1].Tokens, new Plan(2, 16, 8, 2));

        Assert.Equal("step 3 starts at stream offset 768, but step 2 ended at offset 384: tokens 384..768 were skipped",
            RunLedger.Check([.. first, .. again]).Problem);
    }

    [Fact]
    public void AppendedEntriesReadBackAndCheck()
    {
        using var temp = new TempFolder();
        // The checkpoint folder does not exist yet: Append makes it.
        var path = RunLedger.PathIn(temp.Combine("run", "checkpoints"));
        var entries = Steps(0, 0, new Plan(1, 16, 8, 2), new Plan(1, 16, 8, 2), new Plan(2, 32, 6, 3));

        Assert.Empty(RunLedger.Read(path));
        foreach (var entry in entries) RunLedger.Append(path, entry);
        var back = RunLedger.Read(path);

        Assert.Equal(Path.Combine(temp.Path, "run", "checkpoints", "ledger.jsonl"), path);
        Assert.Equal(string.Concat(entries.Select(e => RunLedger.Line(e) + "\n")), File.ReadAllText(path));
        Assert.Contains("\"streamOffset\":128", RunLedger.Line(entries[1])); // camelCase on one line
        Assert.Equal(entries.Count, back.Count);
        for (var i = 0; i < entries.Count; i++)
        {
            // Records holding lists compare them by reference, so compare the lists and the line.
            Assert.Equal(entries[i].Shares, back[i].Shares);
            Assert.Equal(entries[i].After.Progress, back[i].After.Progress);
            Assert.Equal(entries[i].After.Transitions, back[i].After.Transitions);
            Assert.Equal(RunLedger.Line(entries[i]), RunLedger.Line(back[i]));
        }

        Assert.True(double.IsNaN(back[^1].After.Progress.LossEma));
        var check = RunLedger.Check(path);
        Assert.True(check.Exact, check.Problem);
        Assert.Equal((3L, 2L), (check.Steps, check.Last!.Step));
    }

    [Fact]
    public void ATornLastLineIsIgnoredAndRepairedByTheNextAppend()
    {
        using var temp = new TempFolder();
        var path = temp.File(RunLedger.FileName);
        var entries = Simple(3);
        RunLedger.Append(path, entries[0]);
        RunLedger.Append(path, entries[1]);
        // A writer killed halfway through step 2's line.
        File.AppendAllText(path, RunLedger.Line(entries[2])[..40]);

        Assert.Equal([0L, 1L], RunLedger.Read(path).Select(e => e.Step));

        RunLedger.Append(path, entries[2]);

        Assert.Equal([0L, 1L, 2L], RunLedger.Read(path).Select(e => e.Step));
        Assert.Equal(string.Concat(entries.Select(e => RunLedger.Line(e) + "\n")), File.ReadAllText(path));
    }

    [Fact]
    public void AFileThatIsOnlyATornLineIsCutToNothing()
    {
        using var temp = new TempFolder();
        var entry = Simple(1)[0];
        var path = temp.Write(RunLedger.FileName, RunLedger.Line(entry)[..10]);

        Assert.Empty(RunLedger.Read(path));
        RunLedger.Append(path, entry);

        Assert.Equal(RunLedger.Line(entry) + "\n", File.ReadAllText(path));
    }

    [Fact]
    public void ACompleteLastLineMissingOnlyItsNewlineIsKept()
    {
        using var temp = new TempFolder();
        var entries = Simple(2);
        // Read counts it as committed, so the next append must not cut it and leave a gap.
        var path = temp.Write(RunLedger.FileName, RunLedger.Line(entries[0]));

        Assert.Single(RunLedger.Read(path));
        RunLedger.Append(path, entries[1]);

        Assert.Equal([0L, 1L], RunLedger.Read(path).Select(e => e.Step));
        Assert.True(RunLedger.Check(path).Exact);
    }

    [Theory]
    [InlineData(1, "{\"epoch\":1,")]
    [InlineData(1, "not json")]
    [InlineData(2, "{\"epoch\":1,\"step\":2}")]
    public void ABadLineThatIsNotATornTailThrowsNamingFileAndLine(int badIndex, string bad)
    {
        using var temp = new TempFolder();
        var lines = Simple(3).Select(RunLedger.Line).ToList();
        lines[badIndex] = bad;
        // Every line has its newline, so even a bad last line is corruption rather than a torn write.
        var path = temp.Write(RunLedger.FileName, string.Concat(lines.Select(l => l + "\n")));

        var e = Assert.Throws<FormatException>(() => RunLedger.Read(path));

        Assert.StartsWith($"{path} line {badIndex + 1}: not a ledger entry", e.Message);
    }

    [Fact]
    public void ParseLineNamesWhatIsWrong()
    {
        var line = RunLedger.Line(Simple(1)[0]).Replace("\"rowCount\":4", "\"rowCount\":\"four\"", StringComparison.Ordinal);

        var e = Assert.Throws<FormatException>(() => RunLedger.ParseLine(line));

        Assert.Contains("shares[0].rowCount", e.Message);
    }
}
