using System.Globalization;

// Usage: GrowLength.Cluster.Bench exchange [models = cpu-small,cpu-demo] [steps = 12] [tokens per step = 1024] [rounds = 1] [chunk KiB = 4096]
//        [placements = one,two]
// The gradient exchange of real 2-worker runs, in each of its variants, on one silo and on two silo processes over
// loopback, beside 1-worker runs of the same spec (ExchangeBench).
// Usage: GrowLength.Cluster.Bench overhead [steps = 10] [rounds = 3] [lengths = 128,2048] [tokens per step = 16384]
// The actor layer's cost: one Orleans worker (in-process silo) against the bare Trainer, cpu-demo model, alternated A/B.
static int Int(string[] args, int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;

switch (args.FirstOrDefault())
{
    case "exchange":
        GrowLength.Cluster.Bench.ExchangeBench.ChunkBytes = Int(args, 5, 4096) << 10;
        if (args.Length > 6) GrowLength.Cluster.Bench.ExchangeBench.Placements = args[6].Split(',');
        await GrowLength.Cluster.Bench.ExchangeBench.Run(
            args.Length > 1 ? args[1].Split(',') : ["cpu-small", "cpu-demo"], Int(args, 2, 12), Int(args, 3, 1024), Int(args, 4, 1));
        return 0;
    case "overhead":
        await GrowLength.Cluster.Bench.OverheadBench.Run(Int(args, 1, 10), Int(args, 2, 3),
            args.Length > 3 ? args[3].Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray() : [128, 2048], Int(args, 4, 16384));
        return 0;
    default:
        Console.Error.WriteLine("usage: GrowLength.Cluster.Bench exchange [models] [steps] [tokens per step] [rounds] | overhead [steps] [rounds] [lengths] [tokens per step]");
        return 2;
}
