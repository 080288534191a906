namespace GrowLength.Client.Tests;

/// <summary>Bad worker counts and chaos plans: exit 2 with one line naming the option, before anything connects or starts
/// (no home, no silo, no chaos folder).</summary>
public sealed class WorkerBoundsBadInputTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string Home => temp.Combine("home");

    private void AssertRejected(string named, params string[] args)
    {
        var result = GrowLengthProgram.Run(temp.Path, 60, [.. args, "--home", Home]);
        Assert.True(result.ExitCode == 2, $"expected exit 2; {result}");
        var error = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith($"error: {named}", error);
        Assert.DoesNotContain("   at ", result.Output);
        Assert.DoesNotContain("silo ", result.Stdout);
        Assert.False(Directory.Exists(Home), $"something started under the home; {result}");
    }

    [Theory]
    [InlineData("--min-workers: 3 is above --workers (2)", "run", "--workers", "2", "--min-workers", "3")]
    [InlineData("--max-workers: 1 is below --workers (2)", "train", "--workers", "2", "--max-workers", "1")]
    [InlineData("--min-workers: must be at least 1 (is 0)", "run", "--min-workers", "0")]
    [InlineData("--max-workers: must be at least 1 (is 0)", "demo", "--max-workers", "0")]
    [InlineData("--workers: must be at least 1 (is 0)", "run", "--workers", "0")]
    [InlineData("--step-deadline: must be 0", "run", "--step-deadline", "-1")]
    [InlineData("--step-deadline: must be 0", "run", "--step-deadline", "NaN")]
    [InlineData("--min-workers: 2 is above --workers (1)", "resume", "tiny", "--min-workers", "2")]
    public void RunBoundsAreChecked(string named, params string[] args) =>
        AssertRejected(named, args[0] is "resume" ? args : [.. args, "--preset", "tiny"]);

    [Theory]
    [InlineData("--workers: scaling to 0 workers", "--workers", "0")]
    [InlineData("--workers: must be at least 1 (is -2)", "--workers", "-2")]
    [InlineData("--min-workers: 3 is above --workers (2)", "--workers", "2", "--min-workers", "3")]
    [InlineData("--max-workers: 1 is below --workers (2)", "--workers", "2", "--max-workers", "1")]
    [InlineData("--min-workers: must be at least 1 (is 0)", "--workers", "2", "--min-workers", "0")]
    [InlineData("scale: Option '--workers' is required")]
    [InlineData("scale: Cannot parse argument 'many'", "--workers", "many")]
    public void ScaleBoundsAreChecked(string named, params string[] args) => AssertRejected(named, ["scale", "some-run", .. args]);

    [Theory]
    [InlineData("--script: chaos needs a plan")]
    [InlineData("--script item 1 'kil rank 1 at step 5': unknown action 'kil'", "--script", "kil rank 1 at step 5")]
    [InlineData("--script item 2 'join at step soon'", "--script", "kill rank 1 at step 4; join at step soon")]
    [InlineData("--script item 'kill rank 3 at step 4': rank 3 is beyond", "--script", "kill rank 3 at step 4")]
    [InlineData("--kill-every: give a --script or random kills", "--script", "join at step 3", "--kill-every", "60s")]
    [InlineData("--duration: random kills (--kill-every) need a --duration", "--kill-every", "60s-120s")]
    [InlineData("--kill-every: '120s-60s'", "--kill-every", "120s-60s", "--duration", "20m")]
    [InlineData("--silos: random kills need at least 2 silos", "--kill-every", "60s", "--duration", "20m", "--silos", "1")]
    [InlineData("--seed: applies to random kills", "--script", "join at step 3", "--seed", "7")]
    [InlineData("--silos: must be at least 1", "--script", "join at step 3", "--silos", "0")]
    [InlineData("--min-workers: 4 is above --workers (3)", "--script", "join at step 3", "--min-workers", "4")]
    [InlineData("--max-workers: 2 is below --workers (3)", "--script", "join at step 3", "--max-workers", "2")]
    [InlineData("--report: the folder", "--script", "join at step 3", "--report", "/no-such-folder/report.json")]
    [InlineData("--cluster: chaos starts (and kills) silos of its own", "--script", "join at step 3", "--cluster", "127.0.0.1:30000")]
    [InlineData("chaos: Cannot parse argument 'three'", "--script", "join at step 3", "--silos", "three")]
    [InlineData("schedule.kind:", "--script", "join at step 3", "--schedule.kind=bogus")]
    public void ChaosInputIsChecked(string named, params string[] args) => AssertRejected(named, ["chaos", "--preset", "tiny", .. args]);
}
