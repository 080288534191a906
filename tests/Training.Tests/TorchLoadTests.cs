using TorchSharp;

namespace GrowLength.Training.Tests;

/// <summary>Proves the native TorchSharp library loads (the build's GLIBCXX fix) and computes.</summary>
public sealed class TorchLoadTests
{
    [Fact]
    public void MatrixMultiplyRunsOnTheNativeLibrary()
    {
        using var a = torch.tensor(new float[] { 1, 2, 3, 4 }, 2, 2);
        using var b = torch.tensor(new float[] { 5, 6, 7, 8 }, 2, 2);
        using var c = a.matmul(b);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c.data<float>().ToArray());
    }
}
