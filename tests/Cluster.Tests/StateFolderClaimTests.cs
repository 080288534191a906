using GrowLength.Grains;
using GrowLength.Grains.Storage;
using GrowLength.Tests.Shared;

namespace GrowLength.Cluster.Tests;

/// <summary>A state folder belongs to one cluster: its first silo holds an OS lock on it, silos that join that silo share
/// it, and any other silo (in another process) is refused with a message naming the owner's pid. The lock dies with its
/// process, so the next silo takes the folder over.</summary>
public sealed class StateFolderClaimTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), $"growlength-claim-{Guid.NewGuid():N}");

    public void Dispose()
    {
        try { Directory.Delete(root, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void SilosOfOneProcessShareTheHoldAndTheLastOneReleasesIt()
    {
        var folder = Path.Combine(root, "state");
        var first = StateFolderOwnership.TryAcquire(folder);
        var second = StateFolderOwnership.TryAcquire(folder);
        Assert.NotNull(first);
        Assert.NotNull(second);
        first.Publish(new StateFolderOwner(Environment.ProcessId, "127.0.0.1:30000", "127.0.0.1:11111", "c", DateTimeOffset.UtcNow));
        Assert.Equal(Environment.ProcessId, StateFolderOwnership.ReadOwner(folder)?.Pid);
        first.Dispose();
        Assert.NotNull(StateFolderOwnership.ReadOwner(folder));
        second.Dispose();
        // The last hold removes the record: nobody is to be sent to a silo that is gone.
        Assert.Null(StateFolderOwnership.ReadOwner(folder));
        using var again = StateFolderOwnership.TryAcquire(folder);
        Assert.NotNull(again);
    }

    [Fact]
    public void ARecordOfADeadProcessIsIgnored()
    {
        var folder = Path.Combine(root, "stale");
        Directory.CreateDirectory(folder);
        using var exited = System.Diagnostics.Process.Start("true")!;
        exited.WaitForExit();
        File.WriteAllText(Path.Combine(folder, "owner.json"),
            $$"""{"Pid":{{exited.Id}},"Gateway":"127.0.0.1:30000","SiloEndpoint":"127.0.0.1:11111","ClusterId":"c","SinceUtc":"2026-01-01T00:00:00+00:00"}""");
        Assert.Null(StateFolderOwnership.ReadOwner(folder));
        // And taking the folder over clears it.
        using var hold = StateFolderOwnership.TryAcquire(folder);
        Assert.NotNull(hold);
        Assert.False(File.Exists(Path.Combine(folder, "owner.json")));
    }

    [Fact]
    public async Task ASiloOfAnotherClusterIsRefusedTheFolderAndAJoiningSiloSharesIt()
    {
        var clusterId = $"gl-{Guid.NewGuid():N}"[..16];
        using var owner = await SiloProcess.Start("owner", clusterId, root);
        var state = Path.Combine(root, "state");
        var record = StateFolderOwnership.ReadOwner(state);
        Assert.NotNull(record);
        Assert.Equal((owner.Id, $"127.0.0.1:{owner.GatewayPort}", clusterId), (record.Pid, record.Gateway, record.ClusterId));

        // This process (a would-be second silo on the same folder) is refused, with the owner's pid in the message.
        var refused = Assert.Throws<RunRequestException>(() => FileGrainStorage.Claim(state, "GrowLength:StateFolder", clusterId, joining: null));
        Assert.Equal("GrowLength:StateFolder", refused.Subject);
        Assert.Contains($"owned by process {owner.Id}", refused.Problem);
        Assert.Contains($"--cluster 127.0.0.1:{owner.GatewayPort}", refused.Problem);
        // A silo that joins the owner shares its state; one that names the owner but another cluster does not.
        var ownerSilo = StateFolderOwnership.Endpoint(record.SiloEndpoint);
        Assert.Null(FileGrainStorage.Claim(state, "GrowLength:StateFolder", clusterId, ownerSilo));
        Assert.Throws<RunRequestException>(() => FileGrainStorage.Claim(state, "GrowLength:StateFolder", "another", ownerSilo));

        // A real second silo process started on the folder exits 2 before it starts, naming the owner.
        var second = await Assert.ThrowsAsync<InvalidOperationException>(() => SiloProcess.Start("intruder", clusterId + "x", root));
        Assert.Contains("exited with code 2", second.Message);
        Assert.Contains($"owned by process {owner.Id}", second.Message);

        // SIGKILL frees the folder at once: the kernel drops the lock with the process.
        owner.Kill();
        using var takeover = FileGrainStorage.Claim(state, "GrowLength:StateFolder", clusterId, joining: null);
        Assert.NotNull(takeover);
    }
}
