using System.Diagnostics;
using static TorchSharp.torch;

namespace GrowLength.Training.Bench;

/// <summary>Measures this machine's fp32 matrix-multiply rate, the denominator of MFU.</summary>
public static class MatmulRate
{
    /// <summary>Best FLOP/s of an n×n×n matmul over about <paramref name="seconds"/> of repeats.</summary>
    public static double Measure(Device device, int n = 2048, double seconds = 2.0)
    {
        using var scope = NewDisposeScope();
        var a = randn([n, n], device: device);
        var b = randn([n, n], device: device);
        for (int i = 0; i < 2; i++) mm(a, b).Dispose(); // warm the BLAS threads and caches
        Synchronize(device);
        double best = 0;
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds)
        {
            var sw = Stopwatch.StartNew();
            using (var r = mm(a, b)) Synchronize(device);
            best = Math.Max(best, 2.0 * n * n * n / sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>Waits for queued device work so wall-clock timings are honest.</summary>
    public static void Synchronize(Device device)
    {
        if (device.type == TorchSharp.DeviceType.CUDA) cuda.synchronize(device);
    }
}
