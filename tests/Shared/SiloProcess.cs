using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace GrowLength.Tests.Shared;

/// <summary>A real <c>GrowLength.Silo</c> child process on localhost (<c>dotnet GrowLength.Silo.dll --GrowLength:*=…</c>)
/// with its output kept for failure messages. <see cref="Kill"/> is SIGKILL: no graceful shutdown, no flushing.</summary>
/// <remarks>Linked into each test project that starts one; that project builds src/Silo first (a ProjectReference that does
/// not reference the assembly) and sits at tests/&lt;project&gt;/bin/&lt;configuration&gt;/&lt;framework&gt;.</remarks>
internal sealed class SiloProcess : IDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly TaskCompletionSource started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SiloProcess(string name, int siloPort, int gatewayPort, IEnumerable<string> arguments, string[] launcher)
    {
        Name = name;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        var dll = SiloDll();
        var start = new ProcessStartInfo(launcher.Length > 0 ? launcher[0] : "dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var part in launcher.Skip(1)) start.ArgumentList.Add(part);
        if (launcher.Length > 0) start.ArgumentList.Add("dotnet");
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // The lifetime's "Application started" line is the readiness signal; appsettings.json hides Microsoft.* below Warning.
        start.ArgumentList.Add("--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information");
        process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Exited += (_, _) =>
        {
            // Exited can come before the last lines are read: WaitForExit() also waits for the redirected output to end,
            // so the message carries the silo's own last words (its error line).
            process.WaitForExit();
            started.TrySetException(new InvalidOperationException($"silo {Name} exited with code {process.ExitCode} before it started:\n{Output}"));
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int SiloPort { get; }

    public int GatewayPort { get; }

    /// <summary>Port of the silo's Prometheus endpoint (http://127.0.0.1:MetricsPort/metrics).</summary>
    public int MetricsPort { get; private init; }

    public int Id => process.Id;

    public bool HasExited => process.HasExited;

    /// <summary>Everything the process wrote so far (stdout and stderr, interleaved).</summary>
    public string Output
    {
        get { lock (output) return output.ToString(); }
    }

    /// <summary>Starts a silo and waits until its host reports it started (joined the cluster, gateway open).</summary>
    /// <param name="name">for messages.</param>
    /// <param name="clusterId">the cluster (and service) id: unique per test so tests never join each other, or the default
    /// "growlength" for a silo the growlength program connects to (its own free ports keep it apart from the others).</param>
    /// <param name="root">holds the state, checkpoint and corpus-cache folders, shared by the silos of a test.</param>
    /// <param name="primary">the silo to join, or null for a primary.</param>
    /// <param name="deviceSlots">workers this silo can run at once.</param>
    /// <param name="settings">more GrowLength settings, e.g. "KillAt=6:reduce".</param>
    public static Task<SiloProcess> Start(string name, string clusterId, string root, SiloProcess? primary = null, int deviceSlots = 1,
        params string[] settings) =>
        StartUnder([], name, clusterId, root, primary, deviceSlots, settings);

    /// <summary>As <see cref="Start"/>, with the silo's <c>dotnet</c> command run by <paramref name="launcher"/> (a program
    /// and its arguments that end by running the rest, e.g. <c>unshare … sh -c '…; exec "$@"'</c>).</summary>
    public static async Task<SiloProcess> StartUnder(string[] launcher, string name, string clusterId, string root, SiloProcess? primary = null,
        int deviceSlots = 1, params string[] settings)
    {
        var silo = Launch(launcher, name, clusterId, root, primary, deviceSlots, settings);
        await silo.WaitStarted();
        return silo;
    }

    /// <summary>Starts the silo's process and returns at once, for a test that watches it start (<see cref="WaitStarted"/>).</summary>
    public static SiloProcess Launch(string[] launcher, string name, string clusterId, string root, SiloProcess? primary = null,
        int deviceSlots = 1, params string[] settings)
    {
        var (siloPort, gatewayPort, metricsPort) = (FreePort(), FreePort(), FreePort());
        var arguments = new List<string>
        {
            $"--GrowLength:SiloPort={siloPort}",
            $"--GrowLength:GatewayPort={gatewayPort}",
            $"--GrowLength:ClusterId={clusterId}",
            $"--GrowLength:StateFolder={Path.Combine(root, "state")}",
            $"--GrowLength:CheckpointFolder={Path.Combine(root, "checkpoints")}",
            $"--GrowLength:CorpusCacheFolder={Path.Combine(root, "corpus-cache")}",
            $"--GrowLength:DeviceSlots={deviceSlots}",
            // The tests make their corpora in the temp folder; the default roots have tests of their own.
            $"--GrowLength:PathRoots={Path.GetTempPath()}",
            "--GrowLength:DeviceKind=cpu",
            // Small chunks so the tiny model's gradient crosses the ring in several pieces, as in the in-process tests.
            $"--GrowLength:GradientChunkBytes={16 << 10}",
            // Each silo its own metrics port: the default 9464 would be taken by the first silo of the machine.
            $"--GrowLength:MetricsPort={metricsPort}",
        };
        if (primary is not null) arguments.Add($"--GrowLength:PrimarySiloEndpoint=127.0.0.1:{primary.SiloPort}");
        arguments.AddRange(settings.Select(s => $"--GrowLength:{s}"));
        return new SiloProcess(name, siloPort, gatewayPort, arguments, launcher) { MetricsPort = metricsPort };
    }

    /// <summary>Waits until the silo's host reports it started (90 s at most); a silo that exits or does not start in time
    /// is killed, and the exception carries its output.</summary>
    public async Task WaitStarted()
    {
        try
        {
            await started.Task.WaitAsync(TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException)
        {
            Kill();
            throw new TimeoutException($"silo {Name} did not start within 90 s:\n{Output}");
        }
        catch
        {
            Kill();
            throw;
        }
    }

    /// <summary>SIGKILL (Process.Kill is SIGKILL on Linux) and wait for the process to be gone.</summary>
    public void Kill()
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(30_000);
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped: nothing left to kill.
        }
    }

    public void Dispose()
    {
        Kill();
        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (output) output.AppendLine(line);
        if (line.Contains("Application started", StringComparison.Ordinal)) started.TrySetResult();
    }

    /// <summary>The repository root of this test build (tests/&lt;project&gt;/bin/&lt;configuration&gt;/&lt;framework&gt; is below it).</summary>
    public static string RepoRoot() =>
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Parent!.Parent!.Parent!.Parent!.FullName;

    /// <summary>A TCP port free on the loopback interface right now.</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try { return ((IPEndPoint)listener.LocalEndpoint).Port; }
        finally { listener.Stop(); }
    }

    /// <summary>src/Silo's build output for this test build's configuration and framework (the test project builds it first).</summary>
    private static string SiloDll()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        // tests/<project>/bin/<configuration>/<framework>
        var framework = here.Name;
        var configuration = here.Parent!.Name;
        var dll = Path.Combine(RepoRoot(), "src", "Silo", "bin", configuration, framework, "GrowLength.Silo.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"build src/Silo first: {dll} is missing", dll);
    }
}
