using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Checkpoints;

/// <summary>Checkpoint folders under one root, written with a commit protocol and read back only when verified.</summary>
/// <remarks>
/// Each checkpoint is <c>step-&lt;12 digits&gt;/</c> with caller-chosen part files and a <c>manifest.json</c>.
/// A folder is complete only when it has that name and a manifest; <c>.partial-</c> folders are unfinished writes
/// and are deleted at the next write. One process writes a root at a time.
/// </remarks>
public sealed class CheckpointStore
{
    private readonly ILogger _logger;
    private readonly HashSet<string> _activeWrites = new(StringComparer.Ordinal);

    /// <param name="root">The folder holding the checkpoints; created at the first write.</param>
    /// <param name="keepLast">How many complete checkpoints to keep after each commit (at least 1).</param>
    /// <param name="logger">Receives fallbacks, cleanup and pruning messages.</param>
    public CheckpointStore(string root, int keepLast, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentOutOfRangeException.ThrowIfLessThan(keepLast, 1);
        Root = Path.GetFullPath(root);
        KeepLast = keepLast;
        _logger = logger ?? NullLogger.Instance;
    }

    public string Root { get; }

    public int KeepLast { get; }

    /// <summary>The folder a complete checkpoint for <paramref name="step"/> has.</summary>
    public string FolderFor(long step) => Path.Combine(Root, CheckpointFolders.CompleteName(step));

    /// <summary>Starts writing the checkpoint for <paramref name="step"/>, first deleting partial folders left by earlier crashes.</summary>
    public CheckpointWriter BeginWrite(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        Directory.CreateDirectory(Root);
        lock (_activeWrites)
        {
            RemoveLeftoverPartials();
            var folder = Path.Combine(Root, CheckpointFolders.PartialName(step));
            Directory.CreateDirectory(folder);
            _activeWrites.Add(folder);
            return new CheckpointWriter(this, step, folder);
        }
    }

    /// <summary>Manifests of the complete checkpoints, oldest step first. Unreadable manifests are skipped with a warning.</summary>
    public IReadOnlyList<CheckpointManifest> List()
    {
        var manifests = new List<CheckpointManifest>();
        foreach (var (step, folder) in CompleteFolders())
        {
            try
            {
                manifests.Add(LoadManifest(folder, step));
            }
            catch (RunInputException e)
            {
                _logger.LogWarning("Skipping checkpoint {Folder}: {Problem}", Path.GetFileName(folder), e.Message);
            }
        }
        return manifests;
    }

    /// <summary>
    /// The newest checkpoint whose parts all match its manifest, or null when there is none. Each one that fails
    /// is skipped with a warning naming the folder and part and the checkpoint fallen back to.
    /// </summary>
    public CheckpointHandle? OpenLatestValid()
    {
        var candidates = CompleteFolders().OrderByDescending(c => c.Step).ToList();
        for (int i = 0; i < candidates.Count; i++)
        {
            var (step, folder) = candidates[i];
            try
            {
                var manifest = LoadManifest(folder, step);
                if (FindProblem(folder, manifest) is not { } problem)
                    return new CheckpointHandle(folder, manifest);
                LogFallback(problem.Summary, $"{Path.GetFileName(folder)}/{problem.Part}", problem.Detail, candidates, i);
            }
            catch (RunInputException e)
            {
                LogFallback("unreadable manifest", $"{Path.GetFileName(folder)}/{CheckpointFolders.ManifestName}", e.Problem, candidates, i);
            }
        }
        return null;
    }

    /// <summary>
    /// Opens the checkpoint for <paramref name="step"/>, verifying every part; a missing checkpoint, a bad manifest
    /// or a bad part throws <see cref="RunInputException"/> naming the file at fault.
    /// </summary>
    public CheckpointHandle Open(long step)
    {
        var folder = FolderFor(step);
        if (!File.Exists(Path.Combine(folder, CheckpointFolders.ManifestName)))
        {
            var have = CompleteFolders().Select(c => c.Step.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
            throw new RunInputException(folder,
                $"no complete checkpoint for step {step} (no {CheckpointFolders.ManifestName}); complete steps: "
                + (have.Count == 0 ? "none" : string.Join(", ", have)));
        }
        var manifest = LoadManifest(folder, step);
        Verify(folder, manifest);
        return new CheckpointHandle(folder, manifest);
    }

    /// <summary>
    /// Checks that every part in <paramref name="manifest"/> exists in <paramref name="folder"/> with the recorded
    /// size and SHA-256; the first that does not throws <see cref="RunInputException"/> naming that part's file.
    /// </summary>
    public static void Verify(string folder, CheckpointManifest manifest)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(manifest);
        if (FindProblem(folder, manifest) is { } problem)
            throw new RunInputException(Path.Combine(folder, problem.Part), $"{problem.Summary}: {problem.Detail}");
    }

    internal void Publish(CheckpointWriter writer)
    {
        var final = FolderFor(writer.Step);
        string? stale = null;
        if (Directory.Exists(final))
        {
            // Move the old one aside under a partial name first: a crash now leaves it to be cleaned up,
            // never mistaken for the new checkpoint.
            stale = Path.Combine(Root, CheckpointFolders.PartialName(writer.Step));
            Directory.Move(final, stale);
            _logger.LogInformation("Replacing the existing checkpoint {Folder}", Path.GetFileName(final));
        }
        Directory.Move(writer.Folder, final);
        DurableFiles.SyncFolder(Root);
        if (stale is not null)
            TryDelete(stale);
    }

    internal void Release(CheckpointWriter writer)
    {
        lock (_activeWrites)
            _activeWrites.Remove(writer.Folder);
    }

    internal void Abandon(CheckpointWriter writer)
    {
        TryDelete(writer.Folder);
        Release(writer);
    }

    /// <summary>
    /// Deletes the folders <see cref="Retention"/> does not keep once <paramref name="committedStep"/> is committed:
    /// later steps (an abandoned continuation) and all but the last <see cref="KeepLast"/>. Call it only after the
    /// new checkpoint is recorded wherever the run looks for its checkpoints, so a crash in between loses nothing.
    /// </summary>
    public void Prune(long committedStep)
    {
        var complete = CompleteFolders();
        var (kept, _) = Retention(complete.Select(c => c.Step), committedStep, KeepLast);
        foreach (var (step, folder) in complete.Where(c => !kept.Contains(c.Step)))
        {
            if (step > committedStep)
                _logger.LogWarning("Deleting checkpoint {Folder}: it is later than step {Step} just committed, so it belongs to an abandoned continuation of the run",
                    Path.GetFileName(folder), committedStep);
            else
                _logger.LogDebug("Pruning checkpoint {Folder} (keeping the last {KeepLast})", Path.GetFileName(folder), KeepLast);
            TryDelete(folder);
        }
    }

    /// <summary>
    /// The retention rule, for folders and for any list of checkpoint records: once <paramref name="committedStep"/> is
    /// committed, the last <paramref name="keepLast"/> steps at or before it are kept; steps after it belong to a run
    /// that was resumed from an earlier point, and resuming from them later would silently mix two runs.
    /// </summary>
    /// <returns>The kept steps, oldest first, and those dropped.</returns>
    public static (IReadOnlySet<long> Kept, IReadOnlyList<long> Dropped) Retention(IEnumerable<long> steps, long committedStep, int keepLast)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keepLast, 1);
        var all = steps.Append(committedStep).Distinct().Order().ToList();
        var kept = all.Where(s => s <= committedStep).TakeLast(keepLast).ToHashSet();
        return (kept, all.Where(s => !kept.Contains(s)).ToList());
    }

    private void RemoveLeftoverPartials()
    {
        foreach (var folder in Directory.EnumerateDirectories(Root))
        {
            if (!CheckpointFolders.IsPartial(Path.GetFileName(folder)) || _activeWrites.Contains(folder))
                continue;
            _logger.LogWarning("Deleting {Folder}, a checkpoint write that never committed (an earlier run stopped mid-write)",
                Path.GetFileName(folder));
            TryDelete(folder);
        }
    }

    /// <summary>Folders named step-&lt;digits&gt; that hold a manifest; anything else is not a checkpoint.</summary>
    private List<(long Step, string Folder)> CompleteFolders()
    {
        var result = new List<(long, string)>();
        if (!Directory.Exists(Root))
            return result;
        foreach (var folder in Directory.EnumerateDirectories(Root))
        {
            if (CheckpointFolders.TryParseComplete(Path.GetFileName(folder), out long step)
                && File.Exists(Path.Combine(folder, CheckpointFolders.ManifestName)))
                result.Add((step, folder));
        }
        result.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return result;
    }

    private static CheckpointManifest LoadManifest(string folder, long step)
    {
        var path = Path.Combine(folder, CheckpointFolders.ManifestName);
        var manifest = CheckpointManifest.Load(path);
        if (manifest.Step != step)
            throw new RunInputException(path, $"invalid checkpoint manifest: it records step {manifest.Step} but its folder is for step {step}");
        return manifest;
    }

    private sealed record Problem(string Part, string Summary, string Detail);

    private static Problem? FindProblem(string folder, CheckpointManifest manifest)
    {
        foreach (var part in manifest.Parts)
        {
            var path = Path.Combine(folder, part.Name);
            if (!File.Exists(path))
                return new Problem(part.Name, "missing part", "the manifest lists it but the file does not exist");
            long length = new FileInfo(path).Length;
            // Size first: it catches truncation without reading the file.
            if (length != part.Bytes)
                return new Problem(part.Name, "size mismatch", $"the manifest records {part.Bytes} bytes, the file has {length}");
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            var actual = DurableFiles.Hash(stream, part.Name);
            if (actual.Sha256 != part.Sha256)
                return new Problem(part.Name, "checksum mismatch", $"the manifest records SHA-256 {part.Sha256}, the file has {actual.Sha256}");
        }
        return null;
    }

    private void LogFallback(string summary, string where, string detail, List<(long Step, string Folder)> newestFirst, int index)
    {
        if (index + 1 < newestFirst.Count)
            _logger.LogWarning("{Summary} in {Where}; falling back to {Fallback} ({Detail})",
                summary, where, Path.GetFileName(newestFirst[index + 1].Folder), detail);
        else
            _logger.LogWarning("{Summary} in {Where}; no earlier checkpoint to fall back to ({Detail})", summary, where, detail);
    }

    private void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Leftovers are retried at the next write; failing a training step over cleanup would lose more.
            _logger.LogWarning(e, "Could not delete {Folder}", folder);
        }
    }
}
