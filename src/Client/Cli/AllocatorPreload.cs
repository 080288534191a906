using System.Diagnostics;
using System.Runtime.InteropServices;

namespace GrowLength.Client.Cli;

/// <summary>Runs the program under tcmalloc when the machine has it: glibc malloc makes libtorch's CPU training
/// page-fault on every step (DESIGN.md measured 6.2 s of 23 s in the kernel; 0.7 s with tcmalloc).</summary>
/// <remarks>LD_PRELOAD only acts at process start, so the program starts itself again with it set and waits.
/// GROWLENGTH_ALLOCATOR=system turns this off; =tcmalloc makes a missing library an error.</remarks>
internal static class AllocatorPreload
{
    private const string Marker = "GROWLENGTH_PRELOADED";
    private static readonly string[] Candidates =
    [
        "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
        "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
        "/usr/lib64/libtcmalloc_minimal.so.4",
        "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4",
    ];

    /// <summary>The allocator this process runs with, for reports: "tcmalloc", "glibc malloc (tuned)" or "glibc malloc".</summary>
    public static string Current =>
        (Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "").Contains("tcmalloc", StringComparison.Ordinal) ? "tcmalloc"
        : Training.Native.GlibcMallocTuning.Applied ? "glibc malloc (tuned)" : "glibc malloc";

    /// <summary>Starts this program again under tcmalloc when that helps; true with the child's exit code if it did.</summary>
    public static bool TryReexecute(string[] args, out int exitCode)
    {
        exitCode = 0;
        var wanted = Environment.GetEnvironmentVariable("GROWLENGTH_ALLOCATOR") ?? "auto";
        if (!OperatingSystem.IsLinux() || wanted == "system" || Current == "tcmalloc" || Environment.GetEnvironmentVariable(Marker) is not null)
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
        var existing = Environment.GetEnvironmentVariable("LD_PRELOAD");
        start.Environment["LD_PRELOAD"] = string.IsNullOrEmpty(existing) ? library : $"{library}:{existing}";
        start.Environment[Marker] = "1";
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

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
