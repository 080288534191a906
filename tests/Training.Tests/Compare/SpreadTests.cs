using GrowLength.Training.Compare;

namespace GrowLength.Training.Tests.Compare;

public sealed class SpreadTests
{
    [Fact]
    public void TheIntervalOfAKnownSampleIsTheMeanPlusOrMinusTTimesTheStandardError()
    {
        // 1..5: mean 3, sample sd √2.5, standard error √0.5; t(0.975, 4) = 2.7764451.
        var s = Spread.Of([1, 2, 3, 4, 5]);
        var half = 2.7764451 * Math.Sqrt(0.5);
        Assert.Equal(3.0, s.Mean, 12);
        Assert.Equal(3.0 - half, s.Low, 6);
        Assert.Equal(3.0 + half, s.High, 6);
        Assert.Equal((1.0, 5.0, 5), (s.Min, s.Max, s.Count));
        Assert.True(s.HasInterval);
        Assert.Equal("3.00 [1.04, 4.96]", s.Text("F2"));
    }

    [Fact]
    public void OneValueHasNoIntervalAndSaysSo()
    {
        var s = Spread.Of([2.5, double.NaN]);
        Assert.Equal(1, s.Count);
        Assert.Equal(2.5, s.Mean);
        Assert.True(double.IsNaN(s.Low) && double.IsNaN(s.High));
        Assert.False(s.HasInterval);
        Assert.Equal("2.50x (n=1)", s.Text("F2", "x"));
        Assert.Equal("–", Spread.Of([]).Text("F2"));
        Assert.Equal(0, Spread.Of([double.NaN]).Count);
    }

    [Fact]
    public void RatiosAreSummarisedOnTheirLogarithms()
    {
        // Speed-ups 2x and 8x: the log-ratios ln 2 and ln 8 have mean ln 4 and standard error ln 4 / 2, so the interval is
        // 4 · 4^(±t(0.975, 1)/2): the geometric mean in the middle, bounds asymmetric, never below 0.
        var s = Spread.OfRatios([2, 8]);
        var t = StudentT.Quantile(0.975, 1);
        Assert.Equal(4.0, s.Mean, 9);
        Assert.Equal(4 * Math.Pow(4, -t / 2), s.Low, 9);
        Assert.Equal(4 * Math.Pow(4, t / 2), s.High, 9);
        Assert.Equal(s.Mean / s.Low, s.High / s.Mean, 9);
        Assert.Equal((2.0, 8.0, 2), (s.Min, s.Max, s.Count));
        // The same numbers as plain values would give an interval reaching below 0, which no speed-up can be.
        Assert.True(Spread.Of([2, 8]).Low < 0);
        Assert.Equal(1, Spread.OfRatios([3, 0, -1, double.NaN]).Count);
    }

    [Fact]
    public void AnIncreasingMapCarriesTheIntervalAndRange()
    {
        var loss = Spread.Of([2.0, 2.2, 2.4]);
        var perplexity = loss.Map(Math.Exp);
        Assert.Equal(Math.Exp(loss.Mean), perplexity.Mean, 12);
        Assert.Equal(Math.Exp(loss.Low), perplexity.Low, 12);
        Assert.Equal(Math.Exp(loss.High), perplexity.High, 12);
        Assert.Equal((Math.Exp(2.0), Math.Exp(2.4), 3), (perplexity.Min, perplexity.Max, perplexity.Count));
    }
}
