using GrowLength.Training.Compare;

namespace GrowLength.Training.Tests.Compare;

public sealed class StudentTTests
{
    [Theory]
    // Two-sided 95% critical values as printed in every t table (3 decimals).
    [InlineData(0.975, 1, 12.706)]
    [InlineData(0.975, 2, 4.303)]
    [InlineData(0.975, 3, 3.182)]
    [InlineData(0.975, 4, 2.776)]
    [InlineData(0.975, 5, 2.571)]
    [InlineData(0.975, 9, 2.262)]
    [InlineData(0.975, 10, 2.228)]
    [InlineData(0.975, 29, 2.045)]
    [InlineData(0.975, 30, 2.042)]
    [InlineData(0.975, 120, 1.980)]
    [InlineData(0.95, 1, 6.314)]
    [InlineData(0.95, 7, 1.895)]
    [InlineData(0.995, 6, 3.707)]
    [InlineData(0.9995, 3, 12.924)]
    public void QuantilesMatchThePrintedTables(double p, int df, double expected) =>
        Assert.Equal(expected, StudentT.Quantile(p, df), 3);

    [Theory]
    [InlineData(0.975)]
    [InlineData(0.9)]
    [InlineData(0.6)]
    [InlineData(0.01)]
    public void OneAndTwoDegreesOfFreedomMatchTheirClosedForms(double p)
    {
        // df 1 is the Cauchy distribution; df 2 has t = (2p − 1)·√(2 / (4p(1 − p))).
        Assert.Equal(Math.Tan(Math.PI * (p - 0.5)), StudentT.Quantile(p, 1), 9);
        Assert.Equal((2 * p - 1) * Math.Sqrt(2 / (4 * p * (1 - p))), StudentT.Quantile(p, 2), 9);
    }

    [Fact]
    public void ManyDegreesOfFreedomApproachTheNormal()
    {
        Assert.Equal(1.95996, StudentT.Quantile(0.975, 100_000), 4);
        Assert.True(StudentT.Quantile(0.975, 1000) > StudentT.Quantile(0.975, 100_000));
    }

    [Fact]
    public void TheCdfIsSymmetricAndInvertsTheQuantile()
    {
        foreach (var df in new[] { 1, 2, 3, 8, 25 })
        {
            Assert.Equal(0.5, StudentT.Cdf(0, df), 12);
            Assert.Equal(1 - StudentT.Cdf(1.7, df), StudentT.Cdf(-1.7, df), 12);
            Assert.Equal(0.975, StudentT.Cdf(StudentT.Quantile(0.975, df), df), 10);
            Assert.Equal(-StudentT.Quantile(0.975, df), StudentT.Quantile(0.025, df), 9);
        }
    }

    [Fact]
    public void ImpossibleArgumentsThrow()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => StudentT.Quantile(0.975, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => StudentT.Quantile(1, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => StudentT.Quantile(0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => StudentT.Quantile(double.NaN, 3));
    }
}
