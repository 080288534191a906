using GrowLength.Training.Checkpoints;

namespace GrowLength.Training.Tests.Checkpoints;

/// <summary>How a silo tells the run's checkpoint folder from a folder at the same path on other storage.</summary>
public sealed class RunFolderMarkerTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void TheFolderThatHoldsTheRunsTokenIsTheRunsFolder()
    {
        var folder = temp.Combine("checkpoints", "run-a");
        RunFolderMarker.Write(folder, "run-a 1234");
        Assert.Null(RunFolderMarker.Problem(folder, "run-a 1234"));
        // Written again (a run re-created under the same id): the new token replaces the old one.
        RunFolderMarker.Write(folder, "run-a 5678");
        Assert.Null(RunFolderMarker.Problem(folder, "run-a 5678"));
        Assert.Single(Directory.GetFiles(folder));
    }

    [Fact]
    public void AMissingFolderAFolderWithoutTheMarkerAndAnotherRunsMarkerAreEachNamed()
    {
        var missing = temp.Combine("nowhere", "run-a");
        Assert.Equal($"the run's checkpoint folder '{missing}' does not exist here", RunFolderMarker.Problem(missing, "run-a 1"));

        var empty = temp.Combine("empty");
        Directory.CreateDirectory(empty);
        Assert.Contains("exists here but is not the run's checkpoint folder (no run.marker)", RunFolderMarker.Problem(empty, "run-a 1"));

        var other = temp.Combine("other");
        RunFolderMarker.Write(other, "run-b 9");
        Assert.Contains("belongs to another run or cluster (run.marker holds run-b 9, not run-a 1)", RunFolderMarker.Problem(other, "run-a 1"));
    }
}
