using System.Diagnostics;
using System.Runtime.InteropServices;

namespace GrowLength.Client.Commands;

/// <summary>Runs the program under tcmalloc when the machine has it: glibc malloc makes libtorch's CPU training
/// page-fault on every step (measured: 6.2 s of a 23 s run in the kernel with glibc, 0.7 s with tcmalloc).</summary>
/// <remarks>LD_PRELOAD only acts at process start, so the program starts itself again with it set and waits.
/// GROWLENGTH_ALLOCATOR=system turns this off; =tcmalloc makes a missing library an error.</remarks>
internal static class AllocatorPreload
{
    /// <summary>Set in a process that must not start itself again (it was preloaded already, or its parent signals its pid).</summary>
    internal const string Marker = "GROWLENGTH_PRELOADED";
    private static readonly string[] Candidates =
    [
        "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
        "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
        "/usr/lib64/libtcmalloc_minimal.so.4",
        "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4",
    ];

    /// <summary>Whether this process runs under a preloaded tcmalloc.</summary>
    public static bool UnderTcmalloc => (Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "").Contains("tcmalloc", StringComparison.Ordinal);

    /// <summary>The allocator this process runs with, for reports: "tcmalloc (release rate 0)" (its setting, when one is
    /// given), "tcmalloc", "glibc malloc (tuned)" or "glibc malloc".</summary>
    public static string Current =>
        UnderTcmalloc
            ? Environment.GetEnvironmentVariable(ReleaseRate) is { } rate ? $"tcmalloc (release rate {rate})" : "tcmalloc"
            : Training.Native.GlibcMallocTuning.Applied ? "glibc malloc (tuned)" : "glibc malloc";

    /// <summary>Starts this program again under tcmalloc when that helps; true with the child's exit code if it did.</summary>
    public static bool TryReexecute(string[] args, out int exitCode)
    {
        exitCode = 0;
        var wanted = Environment.GetEnvironmentVariable("GROWLENGTH_ALLOCATOR") ?? "auto";
        if (!OperatingSystem.IsLinux() || wanted == "system" || UnderTcmalloc || Environment.GetEnvironmentVariable(Marker) is not null)
            return false;
        var library = Candidates.FirstOrDefault(File.Exists);
        if (library is null)
        {
            if (wanted == "tcmalloc")
            {
                Console.Error.WriteLine("error: GROWLENGTH_ALLOCATOR=tcmalloc, but libtcmalloc_minimal.so.4 is not installed (Debian: apt-get install libtcmalloc-minimal4).");
                exitCode = ExitCodes.BadInput;
                return true;
            }
            return false;
        }
        var self = Environment.ProcessPath;
        if (self is null) return false;
        var start = new ProcessStartInfo(self) { UseShellExecute = false };
        // `dotnet growlength.dll` runs under the dotnet host: pass the entry assembly along.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet" && Environment.GetCommandLineArgs() is [var dll, ..])
            start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (name, value) in ChildEnvironment(library, Environment.GetEnvironmentVariable)) start.Environment[name] = value;
        using var child = Process.Start(start);
        if (child is null) return false;
        // The child shares our terminal and process group, so Ctrl+C reaches it directly; we only wait.
        // A SIGTERM sent to us alone is passed on, so the child stops gracefully (it checkpoints) as it would itself.
        Console.CancelKeyPress += (_, e) => e.Cancel = true;
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            if (!child.HasExited) _ = kill(child.Id, 15);
        });
        child.WaitForExit();
        exitCode = child.ExitCode;
        return true;
    }

    /// <summary>What the child's environment gets besides ours: <paramref name="library"/> preloaded, the marker that
    /// stops it from starting itself again, and tcmalloc told to keep the memory it frees.</summary>
    /// <param name="library">the tcmalloc library to preload.</param>
    /// <param name="current">reads a variable of this process's environment.</param>
    internal static IReadOnlyDictionary<string, string> ChildEnvironment(string library, Func<string, string?> current)
    {
        var existing = current("LD_PRELOAD");
        var environment = new Dictionary<string, string>
        {
            ["LD_PRELOAD"] = string.IsNullOrEmpty(existing) ? library : $"{library}:{existing}",
            [Marker] = "1",
        };
        // By default tcmalloc gives freed pages back to the kernel bit by bit, while a training step frees and
        // reallocates the same tens of megabytes every step. Rate 0 keeps them: the resident set stays at the largest
        // step's size, as PyTorch's caching allocator does on a GPU. Measured in pairs (docs/benchmarks.md): MFU at
        // length 128 higher in 4 of 4 pairs (+0.5 to +3.2 points), mixed at 2048. A value the user set is theirs.
        if (current(ReleaseRate) is null) environment[ReleaseRate] = "0";
        return environment;
    }

    private const string ReleaseRate = "TCMALLOC_RELEASE_RATE";

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
