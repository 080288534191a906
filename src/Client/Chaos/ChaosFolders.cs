namespace GrowLength.Client.Chaos;

/// <summary>Where a chaos run keeps its files: its own state and checkpoint folders (a fresh cluster each time, so
/// earlier runs never meet it) under <see cref="Root"/>, which also holds the silos' logs and working folder, and the
/// home's corpus cache (packing a corpus once serves every chaos run and the home's own runs).</summary>
internal sealed record ChaosFolders(string Root, string CorpusCache)
{
    public string State => Path.Combine(Root, "state");

    public string Checkpoints => Path.Combine(Root, "checkpoints");

    /// <summary>A new folder under HOME/chaos named after the run and the time.</summary>
    public static ChaosFolders Under(string home, string runId) =>
        new(Path.Combine(Path.GetFullPath(home), "chaos", $"{runId}-{DateTime.Now:yyyyMMdd-HHmmss}"), Path.Combine(Path.GetFullPath(home), "corpus"));
}
