using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using GrowLength.Training.Checkpoints;
using GrowLength.Training.Run;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace GrowLength.Grains.Storage;

/// <summary>Durable grain state as one JSON file per grain under a folder: written to a temp file, fsynced, renamed over
/// the old one, folder fsynced. The embedded default, so a restarted silo finds its runs.</summary>
/// <remarks>One cluster owns a folder at a time (<see cref="Claim"/>): its first silo holds the folder's lock, and silos
/// that join that silo share it. The ETag is the content hash, so a write based on a stale read is refused with
/// <see cref="InconsistentStateException"/>.</remarks>
public sealed class FileGrainStorage(string root, ILogger<FileGrainStorage> logger) : IGrainStorage
{
    /// <summary>How long a silo joining another waits for that silo to say it owns the folder it shares.</summary>
    private static readonly TimeSpan OwnerWait = TimeSpan.FromSeconds(15);

    /// <summary>Claims <paramref name="folder"/> for a silo, before it starts. Returns the hold, or null for a silo that
    /// joins the folder's owner (<paramref name="joining"/> is the owner's silo endpoint, in the same cluster) and shares
    /// its state. Any other silo is refused with <see cref="RunRequestException"/> naming the owner's pid and gateway:
    /// two clusters on one state folder would both activate a run's coordinator and overwrite each other's state.</summary>
    public static StateFolderOwnership? Claim(string folder, string setting, string clusterId, IPEndPoint? joining)
    {
        folder = Path.GetFullPath(folder);
        var deadline = DateTime.UtcNow + OwnerWait;
        while (true)
        {
            if (StateFolderOwnership.TryAcquire(folder) is { } hold) return hold;
            var owner = StateFolderOwnership.ReadOwner(folder);
            if (owner is not null)
            {
                if (joining is not null && owner.ClusterId == clusterId && StateFolderOwnership.Endpoint(owner.SiloEndpoint).Equals(joining)) return null;
                throw new RunRequestException(setting,
                    $"'{folder}' is owned by process {owner.Pid}, a GrowLength silo of cluster '{owner.ClusterId}' with its gateway at {owner.Gateway}. "
                    + $"A state folder belongs to one cluster: give this silo another {setting}, join that silo (PrimarySiloEndpoint={owner.SiloEndpoint}), or talk to it with --cluster {owner.Gateway}.");
            }
            // Locked, but its owner has not said where its silo is: it is starting. Wait for it, but not for ever.
            if (DateTime.UtcNow > deadline)
                throw new RunRequestException(setting, $"'{folder}' is locked by another process whose silo did not open its gateway within {OwnerWait.TotalSeconds:F0} s; stop that process or use another {setting}.");
            Thread.Sleep(200);
        }
    }

    /// <summary>The spec's JSON conventions (camelCase, NaN as "NaN"), tolerant of fields added later.</summary>
    public static JsonSerializerOptions Json { get; } = new(RunSpecJson.Options)
    {
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };

    public string Root { get; } = Path.GetFullPath(root);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathFor(stateName, grainId);
        if (!File.Exists(path))
        {
            grainState.RecordExists = false;
            grainState.ETag = null;
            return;
        }
        var bytes = await File.ReadAllBytesAsync(path);
        try
        {
            grainState.State = JsonSerializer.Deserialize<T>(bytes, Json)
                ?? throw new JsonException("the file holds null");
        }
        catch (JsonException e)
        {
            // Fail the activation: silently starting from empty state would forget a run.
            throw new InvalidOperationException($"{path}: grain state is not valid JSON for {typeof(T).Name} ({e.Message}); fix or remove the file.", e);
        }
        grainState.ETag = ETagOf(bytes);
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathFor(stateName, grainId);
        var stored = File.Exists(path) ? ETagOf(await File.ReadAllBytesAsync(path)) : null;
        if (stored != grainState.ETag)
            throw new InconsistentStateException($"{path} changed since it was read", stored, grainState.ETag);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(grainState.State, Json);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            await stream.WriteAsync(bytes);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        DurableFiles.SyncFolder(Path.GetDirectoryName(path)!);
        grainState.ETag = ETagOf(bytes);
        grainState.RecordExists = true;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathFor(stateName, grainId);
        if (File.Exists(path))
        {
            File.Delete(path);
            DurableFiles.SyncFolder(Path.GetDirectoryName(path)!);
            logger.LogInformation("Cleared grain state {Path}", path);
        }
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    /// <summary>root/state name/grain id.json, with characters unsafe in file names replaced and a hash kept for uniqueness.</summary>
    public string PathFor(string stateName, GrainId grainId)
    {
        var id = grainId.ToString();
        var safe = new StringBuilder(id.Length);
        foreach (var c in id) safe.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)))[..8];
        return Path.Combine(Root, Safe(stateName), $"{safe}-{hash}.json");
    }

    private static string Safe(string name) => string.Concat(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_'));

    private static string ETagOf(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes))[..16];
}
