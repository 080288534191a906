using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using GrowLength.Client.Commands;

namespace GrowLength.Client.Chaos;

/// <summary>A `growlength silo` child process on loopback, its output kept in a log file, that chaos can SIGKILL
/// (<see cref="Kill"/>) or SIGTERM (<see cref="Terminate"/>).</summary>
internal sealed class ChaosSilo : IDisposable
{
    /// <summary>How long a silo may take to join the cluster and open its gateway (2 cores, several silos starting).</summary>
    public static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(120);

    private readonly Process process;
    private readonly StreamWriter log;
    private readonly Queue<string> tail = new();
    private readonly TaskCompletionSource started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChaosSilo(int index, int siloPort, int gatewayPort, ChaosSilo? primary, ChaosFolders folders, string? postgres)
    {
        Index = index;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        // In PostgreSQL every silo is equal: none holds the membership, so none is spared.
        IsPrimary = primary is null && postgres is null;
        LogFile = Path.Combine(folders.Root, $"silo-{index}.log");
        log = new StreamWriter(LogFile, append: false) { AutoFlush = true };
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("this program's path is unknown; cannot start silos");
        var start = new ProcessStartInfo(self)
        {
            WorkingDirectory = folders.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // `dotnet growlength.dll`: the host needs the program's assembly again.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            start.ArgumentList.Add(Assembly.GetEntryAssembly()?.Location ?? throw new InvalidOperationException("no entry assembly; cannot start silos"));
        string[] arguments =
        [
            "silo", "--home", folders.Root,
            $"--GrowLength:SiloPort={siloPort}",
            $"--GrowLength:GatewayPort={gatewayPort}",
            $"--GrowLength:StateFolder={folders.State}",
            $"--GrowLength:CheckpointFolder={folders.Checkpoints}",
            $"--GrowLength:CorpusCacheFolder={folders.CorpusCache}",
            "--GrowLength:DeviceSlots=1",
            // The user's own silos on loopback, training the user's corpus: like the embedded silo, not confined.
            "--GrowLength:ConfinePaths=false",
            // Silos of one machine would fight over one metrics port; memory is read from /proc instead.
            "--GrowLength:MetricsPort=0",
            // On loopback without TLS, as the chaos client connects to them, whatever GROWLENGTH__* variables meant for a
            // deployed silo say (arguments override the environment).
            "--GrowLength:AdvertisedAddress=",
            "--GrowLength:ListenOnAllInterfaces=false",
            "--GrowLength:TlsCertificate=",
            "--GrowLength:TlsKey=",
            "--GrowLength:TlsAuthority=",
            "--GrowLength:DashboardPort=0",
        ];
        foreach (var a in arguments) start.ArgumentList.Add(a);
        if (postgres is not null)
        {
            start.ArgumentList.Add("--GrowLength:Clustering=postgres");
            start.ArgumentList.Add($"--GrowLength:PostgresConnection={postgres}");
        }
        else if (primary is not null)
        {
            start.ArgumentList.Add($"--GrowLength:PrimarySiloEndpoint=127.0.0.1:{primary.SiloPort}");
        }
        // The pid started must be the silo: no tcmalloc re-execution in between (a SIGKILL would hit the waiting parent
        // and orphan the silo). A parent under tcmalloc passes LD_PRELOAD on, so the silo runs under it too.
        start.Environment[AllocatorPreload.Marker] = "1";
        process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Exited += (_, _) => started.TrySetException(new ChaosException($"silo {Index} exited with code {SafeExitCode()} before it started; its last lines ({LogFile}):\n{Tail}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Pid = process.Id;
    }

    /// <summary>0 for the primary, then 1, 2, … in the order silos were started.</summary>
    public int Index { get; }

    public int SiloPort { get; }

    public int GatewayPort { get; }

    public int Pid { get; }

    /// <summary>The first silo: the development clustering's membership table lives in it, so chaos never kills it.</summary>
    public bool IsPrimary { get; }

    public string LogFile { get; }

    /// <summary>Why the silo is gone (killed, left), or null while chaos has not acted on it.</summary>
    public string? Fate { get; set; }

    /// <summary>Running: not exited.</summary>
    public bool IsRunning
    {
        get
        {
            try { return !process.HasExited; }
            catch (InvalidOperationException) { return false; }
        }
    }

    /// <summary>Resident bytes sampled at the start (after its first trained step) and at the end.</summary>
    public long? StartResidentBytes { get; set; }

    public long? EndResidentBytes { get; set; }

    /// <summary>The last lines the silo wrote.</summary>
    public string Tail
    {
        get { lock (tail) return string.Join('\n', tail); }
    }

    /// <summary>Starts a silo process (joining <paramref name="primary"/>, or the primary itself when null; or, with
    /// <paramref name="postgres"/>, one more equal member of the database's cluster); <see cref="Ready"/> waits until it has started.</summary>
    public static ChaosSilo Launch(int index, int siloPort, int gatewayPort, ChaosSilo? primary, ChaosFolders folders, string? postgres) =>
        new(index, siloPort, gatewayPort, primary, folders, postgres);

    /// <summary>Waits until the silo says it started (joined the cluster, gateway open), at most <see cref="StartDeadline"/>;
    /// a silo that exits or does not start in time is killed and the exception says why, with its last lines.</summary>
    public async Task Ready(CancellationToken cancel)
    {
        try
        {
            await started.Task.WaitAsync(StartDeadline, cancel);
        }
        catch (TimeoutException)
        {
            Kill();
            throw new ChaosException($"silo {Index} did not start within {StartDeadline.TotalSeconds:F0} s; its last lines ({LogFile}):\n{Tail}");
        }
        catch
        {
            Kill();
            throw;
        }
    }

    /// <summary>SIGKILL, and wait (bounded) until the process is gone.</summary>
    public void Kill()
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already reaped: nothing left to kill.
        }
    }

    /// <summary>SIGTERM: the silo stops its workers, leaves the cluster and exits.</summary>
    public void Terminate()
    {
        if (IsRunning) _ = kill(Pid, 15);
    }

    /// <summary>Waits until the process exits, at most <paramref name="deadline"/>; false if it is still running.</summary>
    public async Task<bool> WaitForExit(TimeSpan deadline)
    {
        try
        {
            await process.WaitForExitAsync().WaitAsync(deadline);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        Kill();
        process.Dispose();
        lock (tail) log.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (tail)
        {
            tail.Enqueue(line);
            if (tail.Count > 20) tail.Dequeue();
            try { log.WriteLine(line); }
            catch (ObjectDisposedException) { } // the last lines of a process killed at the end
        }
        if (line.StartsWith(SiloCommand.StartedLine, StringComparison.Ordinal)) started.TrySetResult();
    }

    private string SafeExitCode()
    {
        try { return process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture); }
        catch (InvalidOperationException) { return "?"; }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
