using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GrowLength.Training.Checkpoints;
using TorchSharp;

namespace GrowLength.Training.Tests.Checkpoints;

/// <summary>The commit protocol, verified reads with fallback, cleanup and pruning of <see cref="CheckpointStore"/>.</summary>
public sealed class CheckpointStoreTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly RecordingLogger _log = new();

    public void Dispose() => _temp.Dispose();

    private string Root => _temp.File("checkpoints");

    private CheckpointStore Store(int keepLast = 5) => new(Root, keepLast, _log);

    private static string Name(long step) => $"step-{step:D12}";

    /// <summary>Commits a checkpoint whose parts' contents depend on the step, so each is distinguishable.</summary>
    /// <summary>Writes and commits a checkpoint, then prunes as the owner of the records does once it has recorded it.</summary>
    private static CheckpointManifest WriteCheckpoint(CheckpointStore store, long step, string tag = "")
    {
        using var writer = store.BeginWrite(step);
        writer.WritePart("model.safetensors", s => s.Write(Encoding.UTF8.GetBytes($"model weights at step {step}{tag} " + new string('w', 3000))));
        writer.WritePart("progress.json", s => s.Write(Encoding.UTF8.GetBytes($"{{\"step\":{step}}}")));
        var manifest = writer.Commit(new Dictionary<string, string> { ["step"] = step.ToString(), ["tag"] = tag });
        store.Prune(step);
        return manifest;
    }

    private static string ReadPart(CheckpointHandle handle, string name)
    {
        using var stream = handle.OpenPart(name);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private string[] FolderNames() =>
        Directory.EnumerateDirectories(Root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public void OpenLatestValidReturnsTheNewestCheckpoint()
    {
        var store = Store();
        WriteCheckpoint(store, 100);
        WriteCheckpoint(store, 200);

        var handle = store.OpenLatestValid();

        Assert.NotNull(handle);
        Assert.Equal(200, handle.Step);
        Assert.Equal(Path.Combine(Root, "step-000000000200"), handle.Folder);
        Assert.Equal("200", handle.Properties["step"]);
        Assert.StartsWith("model weights at step 200 ", ReadPart(handle, "model.safetensors"));
        Assert.Equal("{\"step\":200}", ReadPart(handle, "progress.json"));
        Assert.Equal([100L, 200L], store.List().Select(m => m.Step));
        Assert.Equal(["step-000000000100", "step-000000000200"], FolderNames());
        Assert.Empty(_log.Warnings);
    }

    [Fact]
    public void EmptyOrMissingRootHasNoCheckpoints()
    {
        var store = Store();
        Assert.Null(store.OpenLatestValid());
        Assert.Empty(store.List());
    }

    [Fact]
    public void ManifestRecordsFormatStepPropertiesAndEveryPartsSizeAndHash()
    {
        var store = Store();
        var returned = WriteCheckpoint(store, 7, tag: "x");
        var folder = Path.Combine(Root, Name(7));

        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "manifest.json")));
        var root = manifest.RootElement;
        Assert.Equal("growlength-checkpoint/1", root.GetProperty("format").GetString());
        Assert.Equal(7, root.GetProperty("step").GetInt64());
        Assert.True(DateTimeOffset.UtcNow - root.GetProperty("createdUtc").GetDateTimeOffset() < TimeSpan.FromMinutes(5));
        Assert.Equal("x", root.GetProperty("properties").GetProperty("tag").GetString());
        var parts = root.GetProperty("parts").EnumerateArray().ToList();
        Assert.Equal(["model.safetensors", "progress.json"], parts.Select(p => p.GetProperty("name").GetString()));
        foreach (var part in parts)
        {
            var bytes = File.ReadAllBytes(Path.Combine(folder, part.GetProperty("name").GetString()!));
            Assert.Equal(bytes.Length, part.GetProperty("bytes").GetInt64());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), part.GetProperty("sha256").GetString());
        }
        Assert.Equal(returned.Parts, CheckpointManifest.Parse(manifest.RootElement.GetRawText(), "m").Parts);
        Assert.Equal(["manifest.json", "model.safetensors", "progress.json"],
            Directory.EnumerateFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void KeepsOnlyTheLastKCheckpoints()
    {
        var store = Store(keepLast: 2);
        foreach (var step in new long[] { 10, 20, 30, 40 })
            WriteCheckpoint(store, step);

        Assert.Equal(["step-000000000030", "step-000000000040"], FolderNames());
        Assert.Equal([30L, 40L], store.List().Select(m => m.Step));
        Assert.Equal(40, store.OpenLatestValid()!.Step);
    }

    [Fact]
    public void CommitAloneKeepsEveryCheckpointUntilTheOwnerPrunes()
    {
        // A crash between the commit and the owner's record of it must not have deleted the checkpoint still recorded.
        var store = Store(keepLast: 1);
        foreach (var step in new long[] { 10, 20 })
        {
            using var writer = store.BeginWrite(step);
            writer.WritePart("model.safetensors", s => s.WriteByte(1));
            writer.Commit();
        }
        Assert.Equal(["step-000000000010", "step-000000000020"], FolderNames());
        store.Prune(20);
        Assert.Equal(["step-000000000020"], FolderNames());
    }

    [Theory]
    [InlineData(new long[] { 10, 20, 30 }, 40, 2, new long[] { 30, 40 }, new long[] { 10, 20 })]
    [InlineData(new long[] { 100, 200, 300 }, 150, 5, new long[] { 100, 150 }, new long[] { 200, 300 })]
    [InlineData(new long[] { 100, 200 }, 200, 1, new long[] { 200 }, new long[] { 100 })]
    [InlineData(new long[0], 0, 3, new long[] { 0 }, new long[0])]
    public void RetentionKeepsTheLastKAtOrBeforeTheCommittedStep(long[] existing, long committed, int keepLast, long[] kept, long[] dropped)
    {
        var (keep, drop) = CheckpointStore.Retention(existing, committed, keepLast);
        Assert.Equal(kept, keep.Order());
        Assert.Equal(dropped, drop);
    }

    [Fact]
    public void KeepLastMustBeAtLeastOne()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CheckpointStore(Root, 0));
    }

    [Fact]
    public void UncommittedWriteIsNeverReturnedAndIsRemovedAtTheNextWrite()
    {
        var store = Store();
        WriteCheckpoint(store, 100);
        // A crash mid-write: parts on disk, no Commit, and the writer never disposed.
        var crashed = store.BeginWrite(200);
        crashed.WritePart("model.safetensors", s => s.Write(new byte[100]));
        var partial = crashed.Folder;
        Assert.Matches(@"step-000000000200\.partial-[0-9a-f]{32}$", partial);

        var restarted = new CheckpointStore(Root, 5, _log);
        Assert.Equal(100, restarted.OpenLatestValid()!.Step);
        Assert.Equal([100L], restarted.List().Select(m => m.Step));
        Assert.Throws<RunInputException>(() => restarted.Open(200));
        Assert.True(Directory.Exists(partial));

        WriteCheckpoint(restarted, 300);

        Assert.False(Directory.Exists(partial));
        Assert.Equal(["step-000000000100", "step-000000000300"], FolderNames());
        Assert.Contains(_log.Warnings, m => m.Contains(Path.GetFileName(partial)) && m.Contains("never committed"));
    }

    [Fact]
    public void PartialFolderWithAManifestIsStillNotComplete()
    {
        // A crash after the manifest was written but before the folder rename.
        var store = Store();
        WriteCheckpoint(store, 100);
        WriteCheckpoint(store, 200);
        Directory.Move(Path.Combine(Root, Name(200)), Path.Combine(Root, Name(200) + ".partial-0123"));

        Assert.Equal(100, store.OpenLatestValid()!.Step);
        Assert.Equal([100L], store.List().Select(m => m.Step));
    }

    [Fact]
    public void DisposingWithoutCommitAbandonsTheWrite()
    {
        var store = Store();
        string folder;
        using (var writer = store.BeginWrite(5))
        {
            folder = writer.Folder;
            writer.WritePart("a.bin", s => s.WriteByte(1));
        }
        Assert.False(Directory.Exists(folder));
        Assert.Empty(FolderNames());
    }

    [Fact]
    public void TamperedPartIsDetectedAndFallsBackToThePreviousCheckpoint()
    {
        var store = Store();
        WriteCheckpoint(store, 100);
        WriteCheckpoint(store, 120);
        var part = Path.Combine(Root, Name(120), "model.safetensors");
        var bytes = File.ReadAllBytes(part);
        bytes[1500] ^= 0x01;
        File.WriteAllBytes(part, bytes);

        var handle = store.OpenLatestValid();

        Assert.Equal(100, handle!.Step);
        var warning = Assert.Single(_log.Warnings);
        Assert.StartsWith("checksum mismatch in step-000000000120/model.safetensors; falling back to step-000000000100", warning);
        var e = Assert.Throws<RunInputException>(() => store.Open(120));
        Assert.Equal(part, e.Subject);
        Assert.Contains("checksum mismatch", e.Problem);
        Assert.Equal(100, store.Open(100).Step);
    }

    [Fact]
    public void TruncatedPartIsDetectedAndFallsBackToThePreviousCheckpoint()
    {
        var store = Store();
        WriteCheckpoint(store, 100);
        WriteCheckpoint(store, 120);
        var part = Path.Combine(Root, Name(120), "model.safetensors");
        using (var stream = new FileStream(part, FileMode.Open))
            stream.SetLength(stream.Length - 1);

        Assert.Equal(100, store.OpenLatestValid()!.Step);
        var warning = Assert.Single(_log.Warnings);
        Assert.StartsWith("size mismatch in step-000000000120/model.safetensors; falling back to step-000000000100", warning);
        var e = Assert.Throws<RunInputException>(() => store.Open(120));
        Assert.Equal(part, e.Subject);
    }

    [Fact]
    public void MissingPartIsDetected()
    {
        var store = Store();
        WriteCheckpoint(store, 100);
        WriteCheckpoint(store, 120);
        var part = Path.Combine(Root, Name(120), "progress.json");
        File.Delete(part);

        Assert.Equal(100, store.OpenLatestValid()!.Step);
        Assert.Contains(_log.Warnings, m => m.StartsWith("missing part in step-000000000120/progress.json; falling back to step-000000000100"));
        Assert.Equal(part, Assert.Throws<RunInputException>(() => store.Open(120)).Subject);
    }

    [Fact]
    public void EveryCheckpointBadGivesNullAndSaysThereIsNothingToFallBackTo()
    {
        var store = Store();
        WriteCheckpoint(store, 100);
        File.AppendAllText(Path.Combine(Root, Name(100), "progress.json"), " ");

        Assert.Null(store.OpenLatestValid());
        Assert.Contains(_log.Warnings, m => m.Contains("step-000000000100/progress.json; no earlier checkpoint to fall back to"));
    }

    [Fact]
    public void FolderWithoutManifestIsIgnored()
    {
        var store = Store();
        WriteCheckpoint(store, 100);
        var orphan = Path.Combine(Root, Name(500));
        Directory.CreateDirectory(orphan);
        File.WriteAllText(Path.Combine(orphan, "model.safetensors"), "weights");

        Assert.Equal(100, store.OpenLatestValid()!.Step);
        Assert.Equal([100L], store.List().Select(m => m.Step));
        Assert.Empty(_log.Warnings);
        var e = Assert.Throws<RunInputException>(() => store.Open(500));
        Assert.Equal(orphan, e.Subject);
        Assert.Contains("no complete checkpoint for step 500", e.Problem);
        // Not a partial folder, so a later write leaves it alone.
        WriteCheckpoint(store, 600);
        Assert.True(Directory.Exists(orphan));
    }

    [Fact]
    public void InvalidManifestFallsBackAndOpenNamesTheManifest()
    {
        var store = Store();
        WriteCheckpoint(store, 100);
        WriteCheckpoint(store, 120);
        var manifest = Path.Combine(Root, Name(120), "manifest.json");
        File.WriteAllText(manifest, "{ \"format\": \"growlength-checkpoint/1\", ");

        Assert.Equal(100, store.OpenLatestValid()!.Step);
        Assert.Contains(_log.Warnings, m => m.StartsWith("unreadable manifest in step-000000000120/manifest.json; falling back to step-000000000100"));
        var e = Assert.Throws<RunInputException>(() => store.Open(120));
        Assert.Equal(manifest, e.Subject);
        Assert.Contains("not valid JSON", e.Problem);

        File.WriteAllText(manifest, """{"format":"growlength-checkpoint/1","step":120,"properties":{},"parts":[]}""");
        e = Assert.Throws<RunInputException>(() => store.Open(120));
        Assert.Equal(manifest, e.Subject);
        Assert.Contains("'createdUtc' is missing", e.Problem);
    }

    [Fact]
    public void ManifestForAnotherStepIsRejected()
    {
        var store = Store();
        WriteCheckpoint(store, 100);
        var folder = Path.Combine(Root, Name(100));
        var moved = Path.Combine(Root, Name(150));
        Directory.Move(folder, moved);

        var e = Assert.Throws<RunInputException>(() => store.Open(150));
        Assert.Equal(Path.Combine(moved, "manifest.json"), e.Subject);
        Assert.Contains("records step 100", e.Problem);
        Assert.Null(store.OpenLatestValid());
    }

    [Fact]
    public void RewritingAStepReplacesTheStaleCheckpoint()
    {
        var store = Store();
        WriteCheckpoint(store, 100, tag: "-first");
        WriteCheckpoint(store, 100, tag: "-second");

        Assert.Equal(["step-000000000100"], FolderNames());
        var handle = store.Open(100);
        Assert.Equal("-second", handle.Properties["tag"]);
        Assert.StartsWith("model weights at step 100-second", ReadPart(handle, "model.safetensors"));
    }

    [Fact]
    public void CommittingAnEarlierStepDeletesLaterCheckpointsOfTheAbandonedContinuation()
    {
        var store = Store();
        WriteCheckpoint(store, 100);
        WriteCheckpoint(store, 200);
        WriteCheckpoint(store, 300);

        WriteCheckpoint(store, 150); // the run resumed from 100

        Assert.Equal([100L, 150L], store.List().Select(m => m.Step));
        Assert.Equal(150, store.OpenLatestValid()!.Step);
        Assert.Contains(_log.Warnings, m => m.Contains("step-000000000300") && m.Contains("abandoned"));
    }

    [Fact]
    public void ManifestKeptElsewhereVerifiesTheFolder()
    {
        var store = Store();
        var json = WriteCheckpoint(store, 42).ToJson();
        var folder = Path.Combine(Root, Name(42));
        var manifest = CheckpointManifest.Parse(json, "grain state");

        CheckpointStore.Verify(folder, manifest);   // intact: no exception

        var part = Path.Combine(folder, "progress.json");
        File.WriteAllText(part, "{\"step\":43}");
        var e = Assert.Throws<RunInputException>(() => CheckpointStore.Verify(folder, manifest));
        Assert.Equal(part, e.Subject);
        Assert.Contains("checksum mismatch", e.Problem);
    }

    [Fact]
    public void PartsNotInTheManifestCannotBeOpened()
    {
        var store = Store();
        WriteCheckpoint(store, 1);
        var handle = store.Open(1);

        Assert.True(handle.HasPart("progress.json"));
        Assert.False(handle.HasPart("rng.bin"));
        var e = Assert.Throws<RunInputException>(() => handle.OpenPart("rng.bin"));
        Assert.Equal(Path.Combine(handle.Folder, "rng.bin"), e.Subject);
        Assert.Contains("model.safetensors, progress.json", e.Problem);
    }

    [Fact]
    public void WriterRefusesUnsafeOrRepeatedPartNamesAndUseAfterCommit()
    {
        var store = Store();
        using var writer = store.BeginWrite(1);
        Assert.Throws<ArgumentException>(() => writer.OpenPart("../escape.bin"));
        Assert.Throws<ArgumentException>(() => writer.OpenPart("sub/dir.bin"));
        Assert.Throws<ArgumentException>(() => writer.OpenPart("manifest.json"));
        Assert.Throws<ArgumentException>(() => writer.OpenPart(""));
        writer.WritePart("a.bin", s => s.WriteByte(1));
        Assert.Throws<ArgumentException>(() => writer.OpenPart("a.bin"));
        writer.Commit();
        Assert.Throws<InvalidOperationException>(() => writer.OpenPart("b.bin"));
        Assert.Throws<InvalidOperationException>(() => writer.Commit());
    }

    [Fact]
    public void PartStreamsLeftOpenAreClosedAndCountedAtCommit()
    {
        var store = Store();
        var writer = store.BeginWrite(3);
        var stream = writer.OpenPart("rng.bin");
        stream.Write(new byte[] { 1, 2, 3, 4, 5 });   // buffered, never flushed by the caller
        var manifest = writer.Commit();

        Assert.Equal(5, manifest.FindPart("rng.bin")!.Bytes);
        Assert.Equal(5, new FileInfo(Path.Combine(Root, Name(3), "rng.bin")).Length);
    }

    [Fact]
    public void SafeTensorsPartRoundTripsThroughACheckpoint()
    {
        var store = Store();
        using var weights = torch.arange(24, dtype: torch.ScalarType.Float32).reshape(2, 3, 4);
        using (var writer = store.BeginWrite(9))
        {
            writer.WritePart("model.safetensors", s => SafeTensors.Write(s, [("w", weights)]));
            writer.Commit();
        }

        var handle = store.OpenLatestValid()!;
        using var stream = handle.OpenPart("model.safetensors");
        var (tensors, _) = SafeTensors.Read(stream, handle.PartPath("model.safetensors"));
        using var w = tensors["w"];
        Assert.True(w.eq(weights).all().item<bool>());
    }
}
