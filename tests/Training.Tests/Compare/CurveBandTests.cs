using GrowLength.Training.Compare;

namespace GrowLength.Training.Tests.Compare;

public sealed class CurveBandTests
{
    private static CurvePoint[] Curve(params (double Seconds, double Loss)[] points) =>
        [.. points.Select((p, i) => new CurvePoint(i, i * 100, p.Seconds, p.Loss))];

    [Fact]
    public void EachCurveIsInterpolatedLinearlyBetweenItsOwnPoints()
    {
        var c = Curve((0, 5.0), (10, 3.0), (30, 2.0));
        Assert.Equal(4.0, CurveBand.LossAt(c, 5), 12);
        Assert.Equal(2.5, CurveBand.LossAt(c, 20), 12);
        Assert.Equal(3.0, CurveBand.LossAt(c, 10), 12);
        Assert.Equal(2.0, CurveBand.LossAt(c, 40), 12); // held past the end
    }

    [Fact]
    public void TwoRepeatsGiveTheirRangeOverTheTimeBothCover()
    {
        var band = CurveBand.Of([Curve((0, 4.0), (10, 2.0)), Curve((0, 6.0), (12, 3.0))], points: 3)!;
        Assert.Equal(BandKind.MinMax, band.Kind);
        Assert.Equal([0.0, 5.0, 10.0], band.Seconds); // up to the shorter curve's end
        Assert.Equal(5.0, band.Mean[0], 12);
        // At 5 s the first curve (4 → 2 over 10 s) is at 3, the second (6 → 3 over 12 s) at 4.75.
        Assert.Equal(3.0, band.Low[1], 12);
        Assert.Equal(4.75, band.High[1], 12);
        Assert.Equal(3.875, band.Mean[1], 12);
        Assert.Equal(6.0 - 3.0 * 10 / 12, band.High[2], 12);
        Assert.Equal(2.0, band.Low[2], 12);
    }

    [Fact]
    public void ThreeRepeatsGiveThe95PercentInterval()
    {
        var band = CurveBand.Of([Curve((0, 3.0), (10, 1.0)), Curve((0, 4.0), (10, 2.0)), Curve((0, 5.0), (10, 3.0))], points: 2)!;
        Assert.Equal(BandKind.Interval95, band.Kind);
        var expected = Spread.Of([1.0, 2.0, 3.0]);
        Assert.Equal(expected.Low, band.Low[1], 12);
        Assert.Equal(expected.High, band.High[1], 12);
        Assert.Equal(2.0, band.Mean[1], 12);
    }

    [Fact]
    public void OneCurveHasNoBandAndNoCurveNoPlot()
    {
        var band = CurveBand.Of([Curve((0, 3.0), (10, 1.0))], points: 2)!;
        Assert.Equal(BandKind.None, band.Kind);
        Assert.Equal(band.Mean, band.Low);
        Assert.Null(CurveBand.Of([Curve((0, 3.0))]));
        Assert.Null(CurveBand.Of([]));
    }
}
