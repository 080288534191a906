namespace GrowLength.Training.Data;

/// <summary>A tiny deterministic PRNG and hash (SplitMix64), fixed here so shuffles and splits never change with the .NET version.</summary>
internal struct SplitMix64(ulong state)
{
    private ulong _state = state;

    public ulong Next()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, bound), unbiased by rejection.</summary>
    public ulong NextBelow(ulong bound)
    {
        var threshold = (0UL - bound) % bound;
        while (true)
        {
            var r = Next();
            if (r >= threshold)
            {
                return r % bound;
            }
        }
    }

    /// <summary>The SplitMix64 finaliser: a strong 64-bit mixer.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A hash of (seed, a, b), for deriving independent streams such as one per epoch.</summary>
    public static ulong Hash(long seed, ulong a, ulong b = 0) =>
        Mix(Mix(Mix((ulong)seed + 0x9E3779B97F4A7C15UL) ^ a) + 0x632BE59BD9B4E019UL ^ Mix(b + 0x2545F4914F6CDD1DUL));

    /// <summary>A uniform double in [0, 1) from 53 bits of a hash.</summary>
    public static double ToUnit(ulong h) => (h >> 11) * (1.0 / (1UL << 53));
}
