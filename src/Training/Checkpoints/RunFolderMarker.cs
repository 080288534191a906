namespace GrowLength.Training.Checkpoints;

/// <summary>A file in a run's checkpoint folder that says which run made the folder: a silo that is about to train for the
/// run reads it to know it reaches the same storage as the run's other silos (a path that exists on another machine's
/// local disk is not that storage).</summary>
public static class RunFolderMarker
{
    public const string FileName = "run.marker";

    /// <summary>Writes <paramref name="token"/> (unique to this run's creation) into the folder, durably.</summary>
    public static void Write(string runFolder, string token)
    {
        Directory.CreateDirectory(runFolder);
        var path = Path.Combine(runFolder, FileName);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
        {
            stream.Write(System.Text.Encoding.UTF8.GetBytes(token));
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        DurableFiles.SyncFolder(runFolder);
    }

    /// <summary>Null when the folder holds the marker with <paramref name="token"/>; otherwise what is wrong, in words.</summary>
    public static string? Problem(string runFolder, string token)
    {
        var path = Path.Combine(runFolder, FileName);
        try
        {
            if (!Directory.Exists(runFolder)) return $"the run's checkpoint folder '{runFolder}' does not exist here";
            if (!File.Exists(path)) return $"'{runFolder}' exists here but is not the run's checkpoint folder (no {FileName})";
            var found = File.ReadAllText(path).Trim();
            return found == token ? null : $"'{runFolder}' here belongs to another run or cluster ({FileName} holds {found}, not {token})";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"the run's checkpoint folder '{runFolder}' cannot be read here ({e.Message})";
        }
    }
}
