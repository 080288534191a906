using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace GrowLength.Client.Tests;

/// <summary>What one run of the program printed and returned.</summary>
internal sealed record ProgramResult(int ExitCode, string Stdout, string Stderr)
{
    public string Output => Stdout + Stderr;

    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Starts the real `growlength` program (`dotnet growlength.dll ...`) as a user would.</summary>
internal sealed class GrowLengthProgram : IDisposable
{
    private readonly Process process;
    private readonly StringBuilder stdout = new(), stderr = new();
    private readonly List<string> lines = [];
    private readonly SemaphoreSlim lineArrived = new(0);

    public static string Dll { get; } = typeof(GrowLengthProgram).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "ClientDll").Value!;

    private GrowLengthProgram(string workingDirectory, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        Assert.True(File.Exists(Dll), $"the program is not built at {Dll}");
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        start.ArgumentList.Add(Dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        // No tcmalloc re-exec: one process per run, so the pid signalled is the one training.
        start.Environment["GROWLENGTH_ALLOCATOR"] = "system";
        start.Environment.Remove("GROWLENGTH_HOME");
        start.Environment.Remove("LD_PRELOAD");
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
            if (value is null) start.Environment.Remove(name); else start.Environment[name] = value;
        process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) { stdout.AppendLine(e.Data); lines.Add(e.Data); }
            lineArrived.Release();
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => process.Id;

    /// <summary>Starts the program in <paramref name="workingDirectory"/>; the caller waits, signals or disposes it.</summary>
    public static GrowLengthProgram Start(string workingDirectory, params string[] args) => new(workingDirectory, args);

    /// <summary>`growlength run` of the tiny preset on <paramref name="corpus"/> under <paramref name="home"/>, SIGTERMed
    /// once its first checkpoint is written (the run is surely under way and the stop handler in place); a budget of 30
    /// training seconds keeps it going at least that long, so the stop lands mid-run on any machine. Returns what it printed
    /// and its exit code.</summary>
    public static ProgramResult RunTinyUntilFirstCheckpointThenSigterm(string workingDirectory, string corpus, string home)
    {
        using var run = Start(workingDirectory, "run", "--preset", "tiny", $"--data.path={corpus}", "--home", home,
            "--budget.seconds=30", "--budget.tokens=0");
        run.WaitForLine("checkpoint at step", 60);
        run.Terminate();
        return run.WaitForExit(60);
    }

    /// <summary>Runs the program to its end (killed after <paramref name="timeoutSeconds"/>).</summary>
    public static ProgramResult Run(string workingDirectory, int timeoutSeconds, params string[] args) =>
        RunWith(null, workingDirectory, timeoutSeconds, args);

    /// <summary>Runs the program with <paramref name="environment"/> changed (a null value removes the variable).</summary>
    public static ProgramResult RunWith(IReadOnlyDictionary<string, string?>? environment, string workingDirectory, int timeoutSeconds, params string[] args)
    {
        using var program = new GrowLengthProgram(workingDirectory, args, environment);
        return program.WaitForExit(timeoutSeconds);
    }

    /// <summary>Waits for a stdout line containing <paramref name="text"/> and returns it.</summary>
    public string WaitForLine(string text, int timeoutSeconds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        int seen = 0;
        while (true)
        {
            lock (stdout)
            {
                for (; seen < lines.Count; seen++)
                    if (lines[seen].Contains(text, StringComparison.Ordinal)) return lines[seen];
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || (process.HasExited && !lineArrived.Wait(500)))
                Assert.Fail($"no line with '{text}' within {timeoutSeconds} s; {Snapshot()}");
            lineArrived.Wait(left > TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : left);
        }
    }

    /// <summary>SIGKILL (Process.Kill on Linux): no graceful anything, as a crash or `kill -9` would end it.</summary>
    public void Kill()
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    /// <summary>Sends SIGTERM, as `kill` or a service manager would (Process.Kill would be SIGKILL).</summary>
    public void Terminate() => Assert.Equal(0, kill(process.Id, 15));

    public ProgramResult WaitForExit(int timeoutSeconds)
    {
        if (!process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"the program did not exit within {timeoutSeconds} s; {Snapshot()}");
        }
        process.WaitForExit(); // drains the redirected streams
        return Snapshot();
    }

    private ProgramResult Snapshot()
    {
        lock (stdout) lock (stderr)
            return new ProgramResult(process.HasExited ? process.ExitCode : -1, stdout.ToString(), stderr.ToString());
    }

    public void Dispose()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.Dispose();
        lineArrived.Dispose();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
