using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace GrowLength.Training.Checkpoints;

/// <summary>fsync of files and folders, and hashing of a part while it is made durable.</summary>
public static partial class DurableFiles
{
    /// <summary>Forces the file's data to disk and returns its length and SHA-256.</summary>
    public static CheckpointPart SyncAndHash(string path, string name)
    {
        // Opened for writing because FileStream only fsyncs a handle it may write through.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1 << 16);
        stream.Flush(flushToDisk: true);
        return Hash(stream, name);
    }

    public static CheckpointPart Hash(Stream stream, string name)
    {
        stream.Position = 0;
        var hash = SHA256.HashData(stream);
        return new CheckpointPart(name, stream.Length, Convert.ToHexStringLower(hash));
    }

    /// <summary>
    /// Makes a rename or create inside <paramref name="folder"/> durable. Best effort: .NET has no API for it,
    /// and some file systems refuse fsync on folders; the data files themselves are already synced.
    /// </summary>
    public static void SyncFolder(string folder)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()))
            return;
        try
        {
            int fd = Open(folder, 0 /* O_RDONLY */);
            if (fd < 0)
                return;
            _ = Fsync(fd);
            _ = Close(fd);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
