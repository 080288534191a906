using GrowLength.Client.Chaos;
using GrowLength.Training;

namespace GrowLength.Client.Tests;

/// <summary>Chaos scripts and seeded random plans: what they parse to, what they refuse (naming the item), and that a
/// seed always gives the same kills.</summary>
public sealed class ChaosPlanTests
{
    [Fact]
    public void AScriptParsesToItsActionsInStepOrder()
    {
        var plan = ChaosPlan.Scripted("kill rank 1 at step 5; join at step 12;\n  LEAVE rank 0 at step 20 ; join at step 5");
        Assert.Null(plan.Random);
        Assert.Null(plan.DurationSeconds);
        Assert.Equal(
            [
                new ScriptedAction(ChaosActionKind.Kill, 1, 5, "kill rank 1 at step 5"),
                new ScriptedAction(ChaosActionKind.Join, null, 5, "join at step 5"),
                new ScriptedAction(ChaosActionKind.Join, null, 12, "join at step 12"),
                new ScriptedAction(ChaosActionKind.Leave, 0, 20, "LEAVE rank 0 at step 20"),
            ],
            plan.Script);
        Assert.Equal("kill rank 1 at step 5; join at step 5; join at step 12; LEAVE rank 0 at step 20", plan.Describe());
    }

    [Theory]
    [InlineData("kil rank 1 at step 5", "--script item 1 'kil rank 1 at step 5'", "unknown action 'kil'")]
    [InlineData("join at step 3; kill rank 1", "--script item 2 'kill rank 1'", "kill needs a rank and a step")]
    [InlineData("kill rank one at step 5", "--script item 1 'kill rank one at step 5'", "'one' is not a rank")]
    [InlineData("leave rank 1 at step -2", "--script item 1 'leave rank 1 at step -2'", "'-2' is not a step")]
    [InlineData("join at step 3 please", "--script item 1 'join at step 3 please'", "join takes a step only")]
    [InlineData("kill rank 99999999999 at step 1", "--script item 1 'kill rank 99999999999 at step 1'", "is not a rank")]
    [InlineData(" ; ;", "--script", "is empty")]
    public void ABadScriptNamesTheItem(string script, string subject, string problem)
    {
        var e = Assert.Throws<RunInputException>(() => ChaosScript.Parse(script));
        Assert.Equal(subject, e.Subject);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void TheSameSeedGivesTheSameKillsAndAnotherSeedOthers()
    {
        var chaos = new RandomChaos(DurationSeconds: 20 * 60, MinIntervalSeconds: 60, MaxIntervalSeconds: 120, Seed: 7, RestartAfterSeconds: 15);
        var first = chaos.Schedule();
        Assert.Equal(first, chaos.Schedule());
        Assert.Equal(first, (chaos with { }).Schedule());
        Assert.NotEqual(first, (chaos with { Seed = 8 }).Schedule());

        // 20 minutes of kills 60-120 s apart: 10 to 19 of them, in order, inside the bounds, each pick in [0, 1).
        Assert.InRange(first.Count, 10, 19);
        double previous = 0;
        foreach (var kill in first)
        {
            Assert.InRange(kill.AtSeconds - previous, 60, 120);
            Assert.InRange(kill.Pick, 0, 0.999999999);
            previous = kill.AtSeconds;
        }
        Assert.True(previous < 20 * 60);
    }

    [Fact]
    public void AFixedIntervalKillsOnTheClock()
    {
        var kills = new RandomChaos(DurationSeconds: 100, MinIntervalSeconds: 30, MaxIntervalSeconds: 30, Seed: 1, RestartAfterSeconds: null).Schedule();
        Assert.Equal([30.0, 60.0, 90.0], kills.Select(k => k.AtSeconds));
    }

    [Theory]
    [InlineData(0.0, 3, 0)]
    [InlineData(0.34, 3, 1)]
    [InlineData(0.999, 3, 2)]
    [InlineData(0.5, 1, 0)]
    public void APickLandsOnOneCandidate(double pick, int count, int chosen) => Assert.Equal(chosen, new TimedKill(10, pick).Choose(count));

    [Theory]
    [InlineData("60s-120s", 60, 120)]
    [InlineData("1m - 2m", 60, 120)]
    [InlineData("90s", 90, 90)]
    [InlineData("30", 30, 30)]
    public void AnIntervalParses(string text, double min, double max) => Assert.Equal((min, max), RandomChaos.ParseInterval(text, "--kill-every"));

    [Theory]
    [InlineData("120s-60s", "shorter than the shortest")]
    [InlineData("10s-20s-30s", "is not an interval")]
    [InlineData("soon", "is not a duration")]
    [InlineData("0s-10s", "must be a positive duration")]
    public void ABadIntervalIsNamed(string text, string problem)
    {
        var e = Assert.Throws<RunInputException>(() => RandomChaos.ParseInterval(text, "--kill-every"));
        Assert.Equal("--kill-every", e.Subject);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void ARandomPlanDescribesItself() =>
        Assert.Equal("random kills every 60-120 s for 1200 s (seed 7), a replacement silo 15 s after each",
            ChaosPlan.Randomly(new RandomChaos(1200, 60, 120, 7, 15)).Describe());
}
