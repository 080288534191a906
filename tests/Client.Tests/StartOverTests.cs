namespace GrowLength.Client.Tests;

/// <summary>A stopped run none of whose checkpoints verifies: `resume` refuses, listing each checkpoint and why, and leaves
/// the run as it was; `resume --start-over` begins again from step 0 and says so.</summary>
public sealed class StartOverTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void ResumeRefusesWhenNoCheckpointVerifiesAndStartOverBeginsAtStepZero()
    {
        var corpus = temp.WriteTinyCorpus();
        var home = temp.Combine("home");
        var interrupted = GrowLengthProgram.RunTinyUntilFirstCheckpointThenSigterm(temp.Path, corpus, home);
        Assert.True(interrupted.ExitCode == 130, interrupted.ToString());
        var folders = Directory.GetDirectories(Path.Combine(home, "checkpoints", "tiny"), "step-*").Order().ToArray();
        Assert.NotEmpty(folders);
        foreach (var folder in folders)
        {
            var model = Path.Combine(folder, "model.safetensors");
            var bytes = File.ReadAllBytes(model);
            bytes[bytes.Length / 2] ^= 0x01;
            File.WriteAllBytes(model, bytes);
        }
        var before = GrowLengthProgram.Run(temp.Path, 60, "status", "tiny", "--home", home, "--json");
        Assert.True(before.ExitCode == 0, before.ToString());

        var refused = GrowLengthProgram.Run(temp.Path, 60, "resume", "tiny", "--home", home);
        Assert.True(refused.ExitCode == 2, refused.ToString());
        // One line (the embedded silo's warnings about each checkpoint come before it).
        var error = refused.Stderr.Split('\n').Single(l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.StartsWith("error: tiny: no recorded checkpoint verifies, so it would start over from step 0: ", error);
        foreach (var folder in folders)
            Assert.Contains($"({folder}): {Path.Combine(folder, "model.safetensors")}: checksum mismatch", error);
        Assert.Contains("`growlength resume tiny --start-over` begins again from step 0", error);
        Assert.DoesNotContain("resuming run", refused.Stdout);
        // Nothing started and nothing changed: the same status as before the refusal.
        var after = GrowLengthProgram.Run(temp.Path, 60, "status", "tiny", "--home", home, "--json");
        Assert.Equal(before.Stdout, after.Stdout);

        using var over = GrowLengthProgram.Start(temp.Path, "resume", "tiny", "--start-over", "--home", home);
        over.WaitForLine("started over from step 0 on request (--start-over): no recorded checkpoint verified: ", 60);
        over.WaitForLine("resuming run tiny from step 0 ", 10);
        // Training from step 0 again: its first stage's start, then a graceful stop.
        over.WaitForLine("stage 0: length 16 from step 0", 60);
        over.Terminate();
        var stopped = over.WaitForExit(60);
        Assert.True(interrupted.ExitCode == 130, interrupted.ToString());
        // The start-over line lists every checkpoint it found unusable (the console may wrap it, never inside a path).
        foreach (var folder in folders) Assert.Contains(folder, stopped.Stdout);
    }
}
