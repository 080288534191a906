namespace GrowLength.Training.Checkpoints;

/// <summary>A checkpoint held in host memory: each part's writer over copies taken at a step boundary, so the files can be
/// written, hashed and made durable on another thread while training goes on.</summary>
/// <remarks>It owns the copies it is given and frees them on <see cref="Dispose"/>. The part writers read only those
/// copies and immutable values, so they run on any thread; <see cref="WriteTo"/> runs each once, in order.</remarks>
public sealed class CheckpointSnapshot : IDisposable
{
    private readonly IReadOnlyList<IDisposable> owned;
    private bool disposed;

    /// <param name="step">completed steps the state holds: the checkpoint's folder is <c>step-&lt;step&gt;</c>.</param>
    /// <param name="parts">the part files in writing order, each with the writer of its bytes.</param>
    /// <param name="properties">the manifest's properties.</param>
    /// <param name="owned">the host copies the writers read, freed with the snapshot.</param>
    public CheckpointSnapshot(long step, IReadOnlyList<(string Name, Action<Stream> Write)> parts,
        IReadOnlyDictionary<string, string> properties, IReadOnlyList<IDisposable> owned)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentNullException.ThrowIfNull(parts);
        ArgumentNullException.ThrowIfNull(properties);
        ArgumentNullException.ThrowIfNull(owned);
        Step = step;
        Parts = parts;
        Properties = properties;
        this.owned = owned;
    }

    public long Step { get; }

    /// <summary>The part files in writing order, each with the writer of its bytes.</summary>
    public IReadOnlyList<(string Name, Action<Stream> Write)> Parts { get; }

    public IReadOnlyDictionary<string, string> Properties { get; }

    /// <summary>Writes every part into a new checkpoint of <paramref name="store"/> and commits it (files fsynced and
    /// hashed, manifest, folder rename). A cancellation before the commit abandons the write: its partial folder is
    /// deleted and nothing becomes visible.</summary>
    public CheckpointManifest WriteTo(CheckpointStore store, CancellationToken cancel = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(store);
        using var writer = store.BeginWrite(Step);
        foreach (var (name, write) in Parts)
        {
            cancel.ThrowIfCancellationRequested();
            writer.WritePart(name, write);
        }
        cancel.ThrowIfCancellationRequested();
        return writer.Commit(Properties);
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var item in owned) item.Dispose();
    }
}
