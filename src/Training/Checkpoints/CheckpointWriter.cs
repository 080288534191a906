namespace GrowLength.Training.Checkpoints;

/// <summary>One checkpoint being written into a partial folder; nothing is visible to readers until <see cref="Commit"/>.</summary>
/// <remarks>Disposing without committing abandons the write and deletes the partial folder.</remarks>
public sealed class CheckpointWriter : IDisposable
{
    private readonly CheckpointStore _store;
    private readonly List<string> _partOrder = [];
    private readonly Dictionary<string, FileStream> _open = new(StringComparer.Ordinal);
    private bool _finished;

    internal CheckpointWriter(CheckpointStore store, long step, string partialFolder)
    {
        _store = store;
        Step = step;
        Folder = partialFolder;
    }

    public long Step { get; }

    /// <summary>The partial folder the parts go to until commit.</summary>
    public string Folder { get; }

    /// <summary>Creates the part file <paramref name="name"/> and returns a stream to write it; <see cref="Commit"/> closes it if the caller has not.</summary>
    public Stream OpenPart(string name)
    {
        ThrowIfFinished();
        if (CheckpointFolders.PartNameProblem(name) is { } problem)
            throw new ArgumentException(problem, nameof(name));
        if (_partOrder.Contains(name))
            throw new ArgumentException($"part '{name}' was already written to this checkpoint", nameof(name));
        var stream = new FileStream(Path.Combine(Folder, name), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        _partOrder.Add(name);
        _open[name] = stream;
        return stream;
    }

    /// <summary>Writes a whole part through <paramref name="write"/> and closes it.</summary>
    public void WritePart(string name, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        using var stream = OpenPart(name);
        write(stream);
    }

    /// <summary>
    /// Makes every part durable, records its size and SHA-256 in <c>manifest.json</c> and renames the folder to
    /// <c>step-&lt;12 digits&gt;</c>. Returns the manifest written. Old checkpoints stay until the owner of the run's
    /// checkpoint records calls <see cref="CheckpointStore.Prune"/>, after it has recorded this one.
    /// </summary>
    public CheckpointManifest Commit(IReadOnlyDictionary<string, string>? properties = null)
    {
        ThrowIfFinished();
        foreach (var stream in _open.Values)
            stream.Dispose();
        _open.Clear();

        // Data first, manifest second, rename last: a crash at any point leaves either the previous state or a
        // partial folder, never a complete-looking checkpoint whose parts are not on disk.
        var parts = _partOrder.Select(name => DurableFiles.SyncAndHash(Path.Combine(Folder, name), name)).ToList();
        var manifest = new CheckpointManifest(Step, DateTimeOffset.UtcNow, CheckpointManifest.Copy(properties), parts);

        var temp = Path.Combine(Folder, CheckpointFolders.ManifestTempName);
        using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            using (var writer = new StreamWriter(stream, leaveOpen: true))
                writer.Write(manifest.ToJson());
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, Path.Combine(Folder, CheckpointFolders.ManifestName));
        DurableFiles.SyncFolder(Folder);

        _store.Publish(this);
        _finished = true;
        _store.Release(this);
        return manifest;
    }

    /// <summary>Abandons an uncommitted write: closes its streams and deletes the partial folder.</summary>
    public void Dispose()
    {
        if (_finished)
            return;
        _finished = true;
        foreach (var stream in _open.Values)
            stream.Dispose();
        _open.Clear();
        _store.Abandon(this);
    }

    private void ThrowIfFinished()
    {
        if (_finished)
            throw new InvalidOperationException($"the checkpoint write for step {Step} was already committed or abandoned");
    }
}
