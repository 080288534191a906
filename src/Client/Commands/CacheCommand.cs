using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GrowLength.Grains.Storage;
using GrowLength.Training;
using GrowLength.Training.Data;
using Spectre.Console;

namespace GrowLength.Client.Commands;

/// <summary>`growlength cache list|prune`: the packed corpora of a home's corpus cache (or of any silo's, with --cache),
/// and deleting them. Works on the folder directly; no cluster is involved.</summary>
internal static class CacheCommand
{
    /// <summary>One folder of `cache list --json`.</summary>
    public sealed record CacheRow(
        string Folder, string Kind, string? Source, string? Tokenizer, long? Tokens, long? Documents, long Bytes, DateTime LastUsedUtc);

    /// <summary>What `cache list --json` writes.</summary>
    public sealed record CacheListing(string Cache, long Bytes, IReadOnlyList<CacheRow> Folders);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create(IAnsiConsole console, Option<DirectoryInfo> home)
    {
        var command = new Command("cache", "List or prune the packed corpora of the corpus cache (--home's, or a silo's with --cache).");
        command.Add(List(console, home));
        command.Add(Prune(console, home));
        return command;
    }

    private static Option<DirectoryInfo?> CacheOption() => new("--cache")
    {
        Description = "The corpus cache folder to act on, e.g. a standalone silo's GrowLength:CorpusCacheFolder (default: --home's corpus folder).",
    };

    private static Command List(IAnsiConsole console, Option<DirectoryInfo> home)
    {
        var cache = CacheOption();
        var json = new Option<bool>("--json") { Description = "Print JSON instead of lines." };
        var command = new Command("list", "Show each packed corpus: its folder, source, tokenizer, tokens, size on disk and last use.") { cache, json };
        command.SetAction(parse =>
        {
            var folder = Folder(parse, home, cache);
            var entries = CorpusCacheContents.List(folder);
            var total = CorpusCacheContents.BytesIn(folder);
            if (parse.GetValue(json))
            {
                var rows = entries.Select(e => new CacheRow(e.Folder, KindName(e.Kind), e.Manifest?.Source, e.Manifest?.Tokenizer,
                    e.Manifest is { } m ? m.Train.Tokens + m.Validation.Tokens : null,
                    e.Manifest is { } n ? n.Train.Documents + n.Validation.Documents : null, e.Bytes, e.LastUsedUtc)).ToList();
                console.Profile.Out.Writer.WriteLine(JsonSerializer.Serialize(new CacheListing(folder, total, rows), Json));
                return ExitCodes.Success;
            }
            var packed = entries.Count(e => e.Kind == CorpusCacheEntryKind.Packed);
            Out(console, $"corpus cache {folder}: {packed} packed {(packed == 1 ? "corpus" : "corpora")}, {Size(total)} in all");
            var now = DateTime.UtcNow;
            foreach (var entry in entries) Out(console, Line(entry, now));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Prune(IAnsiConsole console, Option<DirectoryInfo> home)
    {
        var cache = CacheOption();
        var all = new Option<bool>("--all") { Description = "Delete every packed corpus and the default corpus's materialised text." };
        var olderThan = new Option<string?>("--older-than") { Description = "Delete packed corpora last used longer ago than this, e.g. 7d or 12h." };
        var keepBytes = new Option<string?>("--keep-bytes") { Description = "Delete packed corpora, least recently used first, until the cache holds at most this, e.g. 5GiB." };
        var command = new Command("prune",
            "Delete packed corpora (--all, --older-than, --keep-bytes; the last two may be combined) and what interrupted ingests left. "
            + "The default corpus's text goes only with --all.") { cache, all, olderThan, keepBytes };
        command.SetAction(parse =>
        {
            // Every option is checked before anything is deleted.
            var age = parse.GetValue(olderThan) is { } a ? TimeSpan.FromSeconds(Quantities.Seconds(a, "--older-than")) : (TimeSpan?)null;
            var keep = parse.GetValue(keepBytes) is { } k ? Quantities.Bytes(k, "--keep-bytes") : (long?)null;
            var everything = parse.GetValue(all);
            if (everything && (age is not null || keep is not null))
                throw new RunInputException("--all", "deletes every corpus; it takes no --older-than or --keep-bytes.");
            if (!everything && age is null && keep is null)
                throw new RunInputException("prune", "say what to delete: --all, --older-than DURATION (e.g. 7d) or --keep-bytes SIZE (e.g. 5GiB).");
            var folder = Folder(parse, home, cache);

            var now = DateTime.UtcNow;
            var entries = CorpusCacheContents.List(folder);
            var chosen = CorpusCachePruning.Select(entries, CorpusCacheContents.BytesIn(folder), everything, age, keep, now);
            long freed = 0;
            foreach (var entry in chosen)
            {
                freed += CorpusCacheContents.Remove(entry);
                Out(console, $"deleted {Line(entry, now)}");
            }
            var busy = entries.Count(e => e.Kind == CorpusCacheEntryKind.Leftover && !chosen.Contains(e));
            if (busy > 0)
                Out(console, $"kept {busy} temporary {(busy == 1 ? "folder" : "folders")} written to in the last {CorpusCachePruning.BusyLeftover.TotalMinutes:F0} minutes: an ingest may still be writing {(busy == 1 ? "it" : "them")}");
            Out(console, $"freed {Size(freed)} in {chosen.Count} {(chosen.Count == 1 ? "folder" : "folders")}; {folder} now holds {Size(CorpusCacheContents.BytesIn(folder))}");
            if (chosen.Any(e => e.Kind == CorpusCacheEntryKind.Packed))
            {
                // Not refused: a run that has a deleted corpus open keeps reading it (Linux frees the files when it closes
                // them), and one that looks for it again packs it again.
                var holder = parse.GetResult(cache) is null ? StateFolderOwnership.ReadOwner(Path.Combine(parse.GetValue(home)!.FullName, "state")) : null;
                Out(console, (holder is null ? "note: " : $"note: process {holder.Pid} holds this home; ")
                    + "a run that was using a deleted corpus keeps reading it until it stops, and packs it again when it is resumed or run again.");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The cache folder: --cache (which must exist), or --home's corpus folder (--home must exist when given).</summary>
    private static string Folder(ParseResult parse, Option<DirectoryInfo> home, Option<DirectoryInfo?> cache)
    {
        if (parse.GetResult(cache) is not null)
        {
            var given = parse.GetValue(cache)!.FullName;
            if (!Directory.Exists(given)) throw new RunInputException("--cache", $"'{given}' is not a folder.");
            return given;
        }
        var homeFolder = parse.GetValue(home)!.FullName;
        if (parse.GetResult(home) is { Implicit: false } && !Directory.Exists(homeFolder))
            throw new RunInputException("--home", $"'{homeFolder}' is not a folder.");
        // The embedded silo's cache (ClusterConnection.CorpusCacheFolder); absent until its first run, and then empty.
        return Path.Combine(homeFolder, "corpus");
    }

    /// <summary>One line as it is: Spectre's WriteLine would wrap a long path at the console's width, and scripts read these.</summary>
    private static void Out(IAnsiConsole console, string line) => console.Profile.Out.Writer.WriteLine(line);

    private static string Line(CorpusCacheEntry entry, DateTime now)
    {
        var used = $"last used {entry.LastUsedUtc.ToLocalTime():yyyy-MM-dd HH:mm} ({Age(now - entry.LastUsedUtc)} ago)";
        return entry.Manifest is { } m
            ? $"{entry.Name}  {KindName(entry.Kind)}  {m.Tokenizer}  {m.Train.Tokens + m.Validation.Tokens:N0} tokens  {Size(entry.Bytes)}  {used}  source {m.Source}"
            : $"{entry.Name}  {KindName(entry.Kind)}  {Size(entry.Bytes)}  {used}";
    }

    private static string KindName(CorpusCacheEntryKind kind) => kind switch
    {
        CorpusCacheEntryKind.Packed => "packed",
        CorpusCacheEntryKind.DefaultText => "default-corpus-text",
        _ => "leftover",
    };

    private static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F1} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):F1} KiB",
        _ => $"{bytes} B",
    };

    private static string Age(TimeSpan age) => age switch
    {
        { TotalDays: >= 1 } => string.Create(CultureInfo.InvariantCulture, $"{age.TotalDays:F1} d"),
        { TotalHours: >= 1 } => string.Create(CultureInfo.InvariantCulture, $"{age.TotalHours:F1} h"),
        { TotalMinutes: >= 1 } => string.Create(CultureInfo.InvariantCulture, $"{age.TotalMinutes:F0} min"),
        _ => "under a minute",
    };
}
