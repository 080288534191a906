using System.Runtime.InteropServices;
using GrowLength.Training.Distributed;
using GrowLength.Training.Engine;

namespace GrowLength.Grains.Workers;

/// <summary>A worker's parameters and optimizer state copied to host memory at a step boundary, in parts, for the workers
/// that join the run in an epoch: they start from a live peer's state, not from a checkpoint on disk.</summary>
internal sealed class StateDonation
{
    private readonly byte[] state;
    private readonly int partBytes;

    private StateDonation(long epoch, long step, long optimizerSteps, byte[] state, int partBytes)
    {
        Epoch = epoch;
        Step = step;
        OptimizerSteps = optimizerSteps;
        this.state = state;
        this.partBytes = partBytes;
        Checksum = GradientMath.Checksum(MemoryMarshal.Cast<byte, float>(state.AsSpan()));
    }

    public long Epoch { get; }

    public long Step { get; }

    public long OptimizerSteps { get; }

    public ulong Checksum { get; }

    public int Parts => Math.Max(1, (state.Length + partBytes - 1) / partBytes);

    /// <summary>Copies <paramref name="engine"/>'s flat parameters, first and second moments (in that order).</summary>
    public static StateDonation Of(StepEngine engine, long epoch, long step, int partBytes)
    {
        var p = engine.Parameters;
        long count = p.Count;
        var state = new byte[checked(count * 3 * sizeof(float))];
        int i = 0;
        foreach (var tensor in new[] { p.Values, engine.Optimizer.FirstMoment, engine.Optimizer.SecondMoment })
        {
            var offset = i++ * (int)count;
            var destination = state;
            HostTensors.WithSpan(tensor, writeBack: false, values => values.CopyTo(MemoryMarshal.Cast<byte, float>(destination.AsSpan()).Slice(offset, (int)count)));
        }
        return new StateDonation(epoch, step, engine.Optimizer.StepCount, state, partBytes);
    }

    public StatePart Part(int part)
    {
        if (part < 0 || part >= Parts) throw new ArgumentOutOfRangeException(nameof(part), part, $"the state has {Parts} parts");
        int start = part * partBytes, length = Math.Min(partBytes, state.Length - start);
        return new StatePart(part, Parts, state.AsSpan(start, length).ToArray(), Step, OptimizerSteps, Checksum, state.Length);
    }

    /// <summary>Loads parts fetched from a donor into <paramref name="engine"/> after checking them against the donor's checksum.</summary>
    /// <exception cref="InvalidOperationException">the parts do not add up, or the copy differs from the donor's state.</exception>
    public static void Load(StepEngine engine, IReadOnlyList<StatePart> parts)
    {
        var first = parts[0];
        var p = engine.Parameters;
        long count = p.Count;
        if (first.TotalBytes != count * 3 * sizeof(float))
            throw new InvalidOperationException($"the donor's state has {first.TotalBytes} bytes; this worker's model needs {count * 3 * sizeof(float)}: the workers' models differ");
        var state = new byte[first.TotalBytes];
        int at = 0;
        foreach (var part in parts)
        {
            part.Data.CopyTo(state, at);
            at += part.Data.Length;
        }
        if (at != state.Length) throw new InvalidOperationException($"the donor's state parts hold {at} bytes, expected {state.Length}");
        var checksum = GradientMath.Checksum(MemoryMarshal.Cast<byte, float>(state.AsSpan()));
        if (checksum != first.Checksum)
            throw new InvalidOperationException($"the state copied from the donor has checksum {checksum:x16}, the donor's is {first.Checksum:x16}");
        int i = 0;
        foreach (var tensor in new[] { p.Values, engine.Optimizer.FirstMoment, engine.Optimizer.SecondMoment })
        {
            var offset = i++ * (int)count;
            HostTensors.WithSpan(tensor, writeBack: true, values => MemoryMarshal.Cast<byte, float>(state.AsSpan()).Slice(offset, (int)count).CopyTo(values));
        }
        engine.Optimizer.StepCount = first.OptimizerSteps;
    }
}
