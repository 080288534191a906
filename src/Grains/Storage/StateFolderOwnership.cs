using System.Diagnostics;
using System.Net;
using System.Text.Json;
using GrowLength.Training.Checkpoints;

namespace GrowLength.Grains.Storage;

/// <summary>Who owns a state folder: the process holding an OS lock on its <c>owner.lock</c>, and where that process's
/// silo takes clients (<c>owner.json</c>, written once its gateway is open).</summary>
/// <param name="Pid">the owning process.</param>
/// <param name="Gateway">host:port of its silo's client gateway.</param>
/// <param name="SiloEndpoint">host:port of its silo-to-silo endpoint: silos that join it may share the folder.</param>
/// <param name="ClusterId">the cluster it belongs to.</param>
/// <param name="Tls">its silo takes only clients with a certificate (mutual TLS).</param>
public sealed record StateFolderOwner(int Pid, string Gateway, string SiloEndpoint, string ClusterId, DateTimeOffset SinceUtc, bool Tls = false);

/// <summary>One process's hold on a grain-state folder. Two clusters must never own one state folder: each would activate
/// the same run's coordinator and both would write its state. The hold is an exclusive OS file lock (flock), so the kernel
/// releases it when the process dies, however it dies, and the next process takes the folder over. Silos of one process
/// (an in-process test cluster) share one hold.</summary>
public sealed class StateFolderOwnership : IDisposable
{
    private const string LockName = "owner.lock";
    private const string OwnerName = "owner.json";

    // Holds by folder in this process, with how many silos share each.
    private static readonly Dictionary<string, (FileStream Lock, int Users)> held = new(StringComparer.Ordinal);

    private bool disposed;

    private StateFolderOwnership(string folder) => Folder = folder;

    /// <summary>The state folder, full path.</summary>
    public string Folder { get; }

    /// <summary>Takes the folder, or returns null when another process holds it (<see cref="ReadOwner"/> says which).</summary>
    public static StateFolderOwnership? TryAcquire(string folder)
    {
        folder = Path.GetFullPath(folder);
        lock (held)
        {
            if (held.TryGetValue(folder, out var hold))
            {
                held[folder] = (hold.Lock, hold.Users + 1);
                return new StateFolderOwnership(folder);
            }
            Directory.CreateDirectory(folder);
            FileStream stream;
            try
            {
                // FileShare.None is an exclusive, non-blocking flock on Unix (and a sharing denial on Windows).
                stream = new FileStream(Path.Combine(folder, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                return null;
            }
            held[folder] = (stream, 1);
            // What a dead owner wrote describes a silo that is gone.
            File.Delete(Path.Combine(folder, OwnerName));
            return new StateFolderOwnership(folder);
        }
    }

    /// <summary>The owner's record, or null when none is written (yet); a record whose process is gone is ignored.</summary>
    public static StateFolderOwner? ReadOwner(string folder)
    {
        var path = Path.Combine(Path.GetFullPath(folder), OwnerName);
        StateFolderOwner? owner;
        try
        {
            owner = JsonSerializer.Deserialize<StateFolderOwner>(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException)
        {
            // Not written yet, or being replaced: the caller asks again.
            return null;
        }
        return owner is not null && IsAlive(owner.Pid) ? owner : null;
    }

    /// <summary>Records where this process's silo takes clients (atomically: readers see the old record or the new one).</summary>
    public void Publish(StateFolderOwner owner)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var path = Path.Combine(Folder, OwnerName);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(owner));
        File.Move(temp, path, overwrite: true);
        DurableFiles.SyncFolder(Folder);
    }

    /// <summary>The endpoint text a record holds, as an endpoint.</summary>
    public static IPEndPoint Endpoint(string text) =>
        IPEndPoint.TryParse(text, out var endpoint) ? endpoint : throw new FormatException($"'{text}' is not an address:port");

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        lock (held)
        {
            var hold = held[Folder];
            if (hold.Users > 1)
            {
                held[Folder] = (hold.Lock, hold.Users - 1);
                return;
            }
            held.Remove(Folder);
            File.Delete(Path.Combine(Folder, OwnerName));
            hold.Lock.Dispose();
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
