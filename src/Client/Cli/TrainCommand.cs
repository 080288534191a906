using System.CommandLine;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Engine;
using GrowLength.Training.Export;
using GrowLength.Training.Run;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace GrowLength.Client.Cli;

/// <summary>`growlength train`: one process, one worker, the bare training loop with live progress, checkpoints and a final evaluation.</summary>
internal static class TrainCommand
{
    public static Command Create(IAnsiConsole console, Option<DirectoryInfo> home)
    {
        var specOptions = new RunSpecOptions();
        var restart = new Option<bool>("--restart") { Description = "Ignore this run's checkpoints and start from step 0." };
        var export = new Option<DirectoryInfo?>("--export") { Description = "Also export the trained model (safetensors + config.json) to this folder." };
        var command = new Command("train", "Train in this process (one worker) with live progress, checkpoints and a per-length perplexity table.")
        {
            restart, export,
        };
        specOptions.AddTo(command);
        command.SetAction(parse =>
        {
            var homeFolder = parse.GetValue(home)!.FullName;
            var spec = specOptions.Build(parse);
            using var logging = GrowLengthCli.Logging();
            var logger = logging.CreateLogger("growlength");
            var runFolder = Path.Combine(homeFolder, "runs", spec.Name);
            var store = new CheckpointStore(Path.Combine(runFolder, "checkpoints"), spec.Checkpoint.KeepLast, logger);
            var latest = parse.GetValue(restart) ? null : store.OpenLatestValid();
            if (latest is not null)
            {
                // On resume the model shape and every setting come from the checkpoint, not from flags.
                spec = TrainingCheckpoint.ReadSpec(latest);
                console.MarkupLine($"resuming run [bold]{Markup.Escape(spec.Name)}[/] from step {latest.Step} ({Markup.Escape(latest.Folder)})");
            }
            else if (parse.GetValue(restart) && Directory.Exists(store.Root))
            {
                Directory.Delete(store.Root, recursive: true);
                store = new CheckpointStore(store.Root, spec.Checkpoint.KeepLast, logger);
            }
            else if (store.List().Count > 0)
            {
                // Every checkpoint failed verification (the warnings above say why): say plainly that the run starts over.
                console.MarkupLine($"[yellow]no checkpoint of run {Markup.Escape(spec.Name)} passed verification; starting from step 0[/]");
            }

            using var run = PreparedRun.Open(spec, Path.Combine(homeFolder, "cache"), logger);
            console.MarkupLine($"model [bold]{run.Spec.Model.Preset}[/]: {run.Spec.Model.ParameterCount:N0} parameters; corpus {run.Corpus.TrainTokenCount:N0} training tokens ({run.Tokenizer.Name}); allocator {AllocatorPreload.Current}");
            console.MarkupLine($"schedule [bold]{run.Spec.Schedule.Kind}[/] {string.Join(" → ", run.Lengths.StageLengths)}; budget {(run.Spec.Budget.IsTokens ? $"{run.Spec.Budget.Tokens:N0} tokens" : $"{run.Spec.Budget.Seconds:N0} s")}; {run.Spec.Schedule.GlobalBatchTokens:N0} tokens per step");
            var summary = new RunSummary();
            var progress = new ConsoleProgress(console, summary);
            using var trainer = new Trainer(run, store, progress, logger);
            if (latest is not null) trainer.Resume(latest);
            var preflight = trainer.Preflight();
            console.MarkupLine($"preflight at length {run.Spec.Schedule.MaxLength}: one micro-batch forward/backward in {preflight:F2} s");

            using var stop = new StopSignal();
            var outcome = progress.Show($"training {spec.Name}", () => trainer.Train(stop.Token));
            if (outcome == TrainingOutcome.Stopped)
            {
                console.MarkupLine($"stopped at step {trainer.State.Progress.Step}; run `growlength train --home {homeFolder} --preset ...` again to resume.");
                return ExitCodes.Interrupted;
            }
            ReportTables.WriteStages(console, summary);
            ReportTables.WriteEvaluation(console, trainer.EvaluateAll());
            var exportFolder = parse.GetValue(export);
            if (exportFolder is not null)
            {
                var files = ModelExporter.Export(trainer.Engine.Model, exportFolder.FullName, run.Tokenizer.Name, trainer.State.LongestLength);
                console.MarkupLine($"exported {string.Join(", ", files.Select(Markup.Escape))}");
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
