using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using GrowLength.Training.Bench;
using GrowLength.Training.Engine;
using GrowLength.Training.Model;
using GrowLength.Training.Optim;
using GrowLength.Training.Run;
using Spectre.Console;
using static TorchSharp.torch;

namespace GrowLength.Client.Commands;

/// <summary>`growlength bench`: tokens/s, step time and MFU per length against the matmul rate measured in the same run.</summary>
internal static class BenchCommand
{
    /// <summary>What `bench` writes to its JSON file.</summary>
    public sealed record BenchReport(
        string Model, long Parameters, string Device, string Allocator, int Threads, int Cores, double MatmulGflops, IReadOnlyList<double> MatmulSamplesGflops,
        long StepTokens, long MicroBatchTokens, IReadOnlyList<LengthThroughput> Lengths, double CostRatioLongestToShortest,
        MemoryCheck? Memory, DateTimeOffset When, CheckpointPauseReport? CheckpointPause = null);

    /// <summary>Resident set size after step <see cref="EarlyStep"/> and after the last step, at one length.</summary>
    public sealed record MemoryCheck(int Length, int EarlyStep, long EarlyResidentBytes, int LastStep, long LastResidentBytes)
    {
        public double Ratio => (double)LastResidentBytes / EarlyResidentBytes;
    }

    public static Command Create(IAnsiConsole console)
    {
        var model = new Option<string>("--model") { Description = $"Model preset: {string.Join(", ", ModelPresets.All.Keys)}.", DefaultValueFactory = _ => "cpu-demo" };
        var vocab = new Option<int>("--vocab") { Description = "Vocabulary size (257: bytes; 50257: GPT-2).", DefaultValueFactory = _ => 257 };
        var lengths = new Option<string>("--lengths") { Description = "Comma-separated sequence lengths.", DefaultValueFactory = _ => "128,256,512,1024,2048" };
        var stepTokens = new Option<long>("--step-tokens") { Description = "Tokens per optimizer step.", DefaultValueFactory = _ => 16384 };
        var microTokens = new Option<long>("--micro-tokens") { Description = "Tokens per forward/backward micro-batch.", DefaultValueFactory = _ => 16384 };
        var seconds = new Option<double>("--seconds") { Description = "Timed seconds per length.", DefaultValueFactory = _ => 10 };
        var memorySteps = new Option<int>("--memory-steps") { Description = "Also run this many steps at the shortest length and compare resident memory after step 100 and the last (0: skip).", DefaultValueFactory = _ => 0 };
        var memoryStepTokens = new Option<long>("--memory-step-tokens") { Description = "Tokens per step of the memory check (a leak grows per step, not per token, so small steps find it sooner).", DefaultValueFactory = _ => 1024 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto.", DefaultValueFactory = _ => "auto" };
        var checkpointRounds = new Option<int>("--checkpoint-rounds")
        {
            Description = "Also measure the pause a checkpoint leaves on the training thread, synchronous (TrainingCheckpoint.Save) against asynchronous (snapshot, then a background write), this many rounds of each at the shortest length (0: skip).",
            DefaultValueFactory = _ => 0,
        };
        var checkpointFolder = new Option<DirectoryInfo?>("--checkpoint-folder")
        {
            Description = "Where the checkpoint pause measurement writes its checkpoints (fsync is part of the cost, so a real disk); default: a folder under the system temp path, deleted afterwards.",
        };
        var breakdown = new Option<bool>("--breakdown") { Description = "Also time each length's dense matmuls and attention alone, and show what is left for everything else and the MFU ceiling that leaves." };
        var output = new Option<FileInfo>("--out") { Description = "JSON report file.", DefaultValueFactory = _ => new FileInfo("bench.json") };
        var command = new Command("bench", "Measure training throughput and MFU per sequence length on this machine.")
        {
            model, vocab, lengths, stepTokens, microTokens, seconds, memorySteps, memoryStepTokens, checkpointRounds, checkpointFolder, device, breakdown, output,
        };
        command.SetAction(parse =>
        {
            var config = ModelPresets.ByName(parse.GetValue(model)!) with { VocabSize = parse.GetValue(vocab) };
            config.Validate();
            var lengthList = ParseLengths(parse.GetValue(lengths)!, config.MaxLength);
            var dev = Devices.Resolve(parse.GetValue(device)!);
            if (parse.GetValue(seconds) <= 0) throw new Training.RunInputException("--seconds", "must be positive.");
            if (parse.GetValue(stepTokens) < lengthList.Max()) throw new Training.RunInputException("--step-tokens", $"must hold at least one row of the longest length ({lengthList.Max()}).");
            if (parse.GetValue(microTokens) < 1) throw new Training.RunInputException("--micro-tokens", "must be positive.");
            if (parse.GetValue(checkpointRounds) < 0) throw new Training.RunInputException("--checkpoint-rounds", "must be 0 (skip) or a number of rounds.");

            console.MarkupLine($"model [bold]{config.Preset}[/] ({config.ParameterCount:N0} parameters), device {dev.type}, allocator [bold]{AllocatorPreload.Current}[/], {get_num_threads()} threads on {Environment.ProcessorCount} cores");
            var settings = new ThroughputSettings(config, lengthList, parse.GetValue(stepTokens), parse.GetValue(microTokens), Seconds: parse.GetValue(seconds),
                Breakdown: parse.GetValue(breakdown));
            var report = ThroughputBenchmark.Run(settings, dev, r =>
                console.MarkupLine($"  length {r.Length,5}: {r.TokensPerSecond,9:N0} tokens/s, {r.StepSeconds * 1000,8:F1} ms/step"));

            MemoryCheck? memory = null;
            var steps = parse.GetValue(memorySteps);
            if (steps > 0) memory = MeasureMemory(config, lengthList[0], settings with { StepTokens = parse.GetValue(memoryStepTokens) }, dev, Math.Max(steps, 101));

            CheckpointPauseReport? pause = null;
            if (parse.GetValue(checkpointRounds) is var rounds and > 0)
                pause = MeasureCheckpointPause(console, new CheckpointPauseSettings(config, lengthList[0], settings.StepTokens, settings.MicroBatchTokens, rounds,
                    parse.GetValue(checkpointFolder)?.FullName ?? ""), dev);

            var table = new Table().Title($"MFU against the best matmul rate measured in this run, {report.MatmulFlopsPerSecond / 1e9:F1} GFLOP/s (samples: {string.Join(", ", report.MatmulSamples.Select(m => (m / 1e9).ToString("F0")))})")
                .AddColumns("length", "tokens/s", "ms/step", "GFLOP/token", "MFU (causal)", "MFU (PaLM count)", "cost/token vs shortest");
            foreach (var r in report.Lengths)
                table.AddRow($"{r.Length}", $"{r.TokensPerSecond:N0}", $"{r.StepSeconds * 1000:F1}", $"{r.FlopsPerToken / 1e9:F4}", $"{r.Mfu:P1}", $"{r.MfuPalmConvention:P1}", $"{r.CostPerTokenRelative:F2}x");
            console.Write(table);
            if (settings.Breakdown) console.Write(BreakdownTable(report));
            var ratio = report.Lengths[^1].CostPerTokenRelative;
            console.MarkupLine($"per-token cost at length {report.Lengths[^1].Length} is [bold]{ratio:F2}x[/] that at {report.Lengths[0].Length}");
            if (memory is not null)
                console.MarkupLine($"resident memory: {memory.EarlyResidentBytes / 1048576.0:F0} MiB after step {memory.EarlyStep}, {memory.LastResidentBytes / 1048576.0:F0} MiB after step {memory.LastStep} ({memory.Ratio:F3}x)");
            if (pause is not null) console.Write(CheckpointPauseTable(pause, lengthList[0]));

            var json = new BenchReport(config.Preset, config.ParameterCount, dev.type.ToString(), AllocatorPreload.Current, get_num_threads(),
                Environment.ProcessorCount, report.MatmulFlopsPerSecond / 1e9, report.MatmulSamples.Select(m => m / 1e9).ToList(), settings.StepTokens, settings.MicroBatchTokens,
                report.Lengths, ratio, memory, DateTimeOffset.Now, pause);
            var file = parse.GetValue(output)!;
            File.WriteAllText(file.FullName, JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
            console.MarkupLine($"report written to {Markup.Escape(file.FullName)}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Runs the checkpoint pause measurement in the given folder, or in a temp folder it deletes afterwards.</summary>
    private static CheckpointPauseReport MeasureCheckpointPause(IAnsiConsole console, CheckpointPauseSettings settings, Device device)
    {
        var temporary = settings.Folder.Length == 0;
        var folder = temporary ? Path.Combine(Path.GetTempPath(), $"growlength-checkpoint-pause-{Guid.NewGuid():N}") : settings.Folder;
        try
        {
            console.MarkupLine($"checkpoint pause: {settings.Rounds} rounds at length {settings.Length}, checkpoints in {Markup.Escape(folder)}");
            return CheckpointPauseBenchmark.Run(settings with { Folder = folder }, device, onRound: r => console.MarkupLine(
                $"  round {r.Round}: synchronous {r.SyncPauseSeconds * 1000:F1} ms, asynchronous {r.AsyncPauseSeconds * 1000:F2} ms; quiet step {r.QuietStepSeconds * 1000:F0} ms; "
                + $"background write {r.WriteSeconds * 1000:F1} ms, {r.StepsDuringWrite} step(s) during it ({r.StepSecondsDuringWrite * 1000:F0} ms)"));
        }
        finally
        {
            if (temporary && Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    private static Table CheckpointPauseTable(CheckpointPauseReport r, int length)
    {
        var table = new Table().Title($"The pause a checkpoint leaves on the training thread ({r.Parameters:N0} parameters, {r.CheckpointBytes / 1e6:F1} MB a checkpoint, length {length}; medians of {r.Rounds.Count} rounds)")
            .AddColumns("", "ms", "of a step");
        table.AddRow("step (no write in flight)", $"{r.StepSeconds * 1000:F1}", "");
        table.AddRow("synchronous pause (TrainingCheckpoint.Save)", $"{r.SyncPauseSeconds * 1000:F1}", $"{r.SyncPauseFraction:P2}");
        table.AddRow("asynchronous pause (snapshot to host memory)", $"{r.AsyncPauseSeconds * 1000:F2}", $"{r.AsyncPauseFraction:P2}");
        table.AddRow("background write (files, fsync, hashes, manifest)", $"{r.WriteSeconds * 1000:F1}", "");
        table.AddRow("step that began during a background write", double.IsNaN(r.StepSecondsDuringWrite) ? "none" : $"{r.StepSecondsDuringWrite * 1000:F1}",
            double.IsNaN(r.StepSlowdownDuringWrite) ? "" : $"{r.StepSlowdownDuringWrite:+0.00%;-0.00%} (vs its round's quiet steps)");
        return table;
    }

    private static Table BreakdownTable(ThroughputReport report)
    {
        var table = new Table().Title("Where a step goes: dense matmuls and attention timed alone with the step's shapes (fastest of 3), the rest by difference")
            .AddColumns("length", "ms/step", "dense matmuls", "attention (SDPA)", "everything else", "MFU", "MFU if everything else were free");
        foreach (var r in report.Lengths)
        {
            var b = r.Breakdown!;
            string Part(double seconds) => $"{seconds * 1000:F0} ms ({seconds / r.StepSeconds:P0})";
            table.AddRow($"{r.Length}", $"{r.StepSeconds * 1000:F0}", Part(b.DenseMatmulSeconds), Part(b.AttentionSeconds), Part(b.OtherSeconds), $"{r.Mfu:P1}", $"{b.MfuCeiling:P1}");
        }
        return table;
    }

    private static IReadOnlyList<int> ParseLengths(string text, int modelMax)
    {
        var lengths = LengthList.Parse(text);
        if (lengths.FirstOrDefault(l => l > modelMax) is var tooLong and > 0)
            throw new Training.RunInputException("--lengths", $"{tooLong} is above the model's maximum length ({modelMax}).");
        return lengths;
    }

    // Native memory must stay flat over long runs: every step runs in a DisposeScope. This measures it.
    private static MemoryCheck MeasureMemory(ModelConfig config, int length, ThroughputSettings settings, Device device, int steps)
    {
        using var engine = new StepEngine(config, settings.Seed, device);
        var batch = Training.Schedules.BatchPlan.For(length, settings.StepTokens, settings.MicroBatchTokens);
        int rows = batch.Rows, micro = batch.RowsPerMicroBatch;
        var random = new Random(1);
        var tokens = new long[rows * length];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = random.Next(config.VocabSize);
        var adam = new AdamWSettings(0.9, 0.95, 1e-8, 0.1);
        long early = 0;
        using var process = Process.GetCurrentProcess();
        for (int step = 1; step <= steps; step++)
        {
            engine.AccumulateGradients(tokens, tokens, rows, length, micro, tokens.Length);
            engine.ApplyUpdate(1e-4, 1.0, adam);
            if (step == 100) { process.Refresh(); early = process.WorkingSet64; }
        }
        process.Refresh();
        return new MemoryCheck(length, 100, early, steps, process.WorkingSet64);
    }
}
