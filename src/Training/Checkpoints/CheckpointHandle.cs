namespace GrowLength.Training.Checkpoints;

/// <summary>A committed checkpoint whose parts were verified against its manifest when it was opened.</summary>
public sealed class CheckpointHandle
{
    internal CheckpointHandle(string folder, CheckpointManifest manifest)
    {
        Folder = folder;
        Manifest = manifest;
    }

    /// <summary>A handle on a checkpoint that its owner verified and passed on (a run's checkpoint record): the parts are
    /// not hashed again. Use <see cref="CheckpointStore.Open"/> for anything not verified just now.</summary>
    public static CheckpointHandle OfVerified(string folder, CheckpointManifest manifest)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(manifest);
        return new CheckpointHandle(folder, manifest);
    }

    /// <summary>The checkpoint folder, <c>step-&lt;12 digits&gt;</c> under the store's root.</summary>
    public string Folder { get; }

    public CheckpointManifest Manifest { get; }

    public long Step => Manifest.Step;

    public IReadOnlyDictionary<string, string> Properties => Manifest.Properties;

    public IEnumerable<string> PartNames => Manifest.Parts.Select(p => p.Name);

    public bool HasPart(string name) => Manifest.FindPart(name) is not null;

    /// <summary>The full path of a part's file.</summary>
    public string PartPath(string name) => Path.Combine(Folder, name);

    /// <summary>
    /// Opens a part for reading. A part the manifest does not list throws <see cref="RunInputException"/>,
    /// because a checkpoint lacking what the caller needs is unusable input, not a program error.
    /// </summary>
    public Stream OpenPart(string name)
    {
        if (!HasPart(name))
            throw new RunInputException(PartPath(name),
                $"checkpoint {Path.GetFileName(Folder)} has no part '{name}'; it has: {string.Join(", ", PartNames)}");
        try
        {
            return new FileStream(PartPath(name), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            throw new RunInputException(PartPath(name), $"the checkpoint part vanished after it was verified: {e.Message}", e);
        }
    }
}
