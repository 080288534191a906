using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace GrowLength.Tests.Shared;

/// <summary>A real PostgreSQL server for tests: its own <c>initdb</c> folder under the temp path and its own TCP port on
/// 127.0.0.1, run as a child process (<c>postgres -D …</c>) with its log kept for failure messages.</summary>
/// <remarks>
/// Uses Debian's binaries, <c>/usr/lib/postgresql/&lt;highest version&gt;/bin</c> (./test.sh installs the package); without
/// them <see cref="Start"/> throws rather than skipping. PostgreSQL refuses to run as root, so when the tests run as root
/// (CI) the folder is given to the package's <c>postgres</c> user and initdb and postgres run as that user through
/// <c>setpriv</c>, which execs: the child process is the postmaster itself and can be signalled and waited for directly.
/// A watchdog process (<c>sh</c>, waiting for EOF on a pipe only this process holds) stops the server and deletes the
/// folder when the test process dies without disposing it, so a crashed run leaves nothing behind.
/// Npgsql's pools are left alone by <see cref="Stop"/>: a pooled connection opened before a stop fails on its next use after
/// <see cref="StartAgain"/>, as it would against a production server that restarted.
/// Not thread-safe: one test drives one server.
/// </remarks>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string InstallRoot = "/usr/lib/postgresql";
    private const string Superuser = "growlength";
    private const string OsUser = "postgres";
    private const int SigInt = 2;
    private const int SigQuit = 3;
    private const int BindAttempts = 3;
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopDeadline = TimeSpan.FromSeconds(30);

    private readonly string bin;
    private readonly bool asOsUser;
    private readonly StringBuilder log = new();
    private Process? postmaster;
    private Process? watchdog;
    private bool disposed;

    private PostgresServer(string bin, bool asOsUser, string folder, int port)
    {
        this.bin = bin;
        this.asOsUser = asOsUser;
        Folder = folder;
        Port = port;
    }

    /// <summary>The temp folder holding the data folder (<c>data</c>) and the unix socket folder (<c>socket</c>).</summary>
    public string Folder { get; }

    /// <summary>The TCP port on 127.0.0.1; the same across <see cref="Stop"/> and <see cref="StartAgain"/>.</summary>
    public int Port { get; private set; }

    /// <summary>The superuser's connection string to the maintenance database <c>postgres</c>.</summary>
    public string ConnectionString => ConnectionStringFor("postgres");

    private string DataFolder => Path.Combine(Folder, "data");

    private string SocketFolder => Path.Combine(Folder, "socket");

    /// <summary>Creates a cluster in a fresh temp folder and starts a server on it; returns once it accepts connections.</summary>
    public static async Task<PostgresServer> Start(CancellationToken cancellationToken = default)
    {
        var bin = Binaries();
        var asOsUser = Environment.UserName == "root";
        var folder = Directory.CreateTempSubdirectory("growlength-pg-").FullName;
        var server = new PostgresServer(bin, asOsUser, folder, SiloProcess.FreePort());
        try
        {
            Directory.CreateDirectory(server.SocketFolder);
            if (asOsUser) await server.RunToCompletion("chown", ["-R", $"{OsUser}:{OsUser}", folder], asOsUser: false, cancellationToken);
            // --no-sync and the fsync settings of Launch: a test server's data only has to outlive the server process.
            await server.RunToCompletion(Path.Combine(bin, "initdb"),
                ["-D", server.DataFolder, $"--username={Superuser}", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
                asOsUser, cancellationToken);
            // The port was free a moment ago; another test can take it before postgres binds, so a first start may pick again.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await server.Launch(cancellationToken);
                    break;
                }
                catch (PortTakenException) when (attempt < BindAttempts)
                {
                    server.Port = SiloProcess.FreePort();
                }
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>Creates a database (a plain identifier: lowercase letters, digits, underscores) and returns its connection
    /// string.</summary>
    public async Task<string> CreateDatabase(string name, CancellationToken cancellationToken = default)
    {
        if (!Regex.IsMatch(name, "^[a-z_][a-z0-9_]{0,62}$"))
            throw new ArgumentException($"database name '{name}' is not a plain lowercase identifier of at most 63 characters", nameof(name));
        // Unpooled: a pooled maintenance connection would outlive a Stop and fail the next call.
        await using var connection = new NpgsqlConnection(Unpooled(ConnectionString));
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return ConnectionStringFor(name);
    }

    /// <summary>Fast shutdown (SIGINT: running transactions roll back, a checkpoint is written) and waits until the server and
    /// all its processes are gone. The data folder stays for <see cref="StartAgain"/>. Does nothing when not running.</summary>
    public Task Stop() => StopPostmaster(SigInt);

    /// <summary>Starts the server again on the same data folder and port after <see cref="Stop"/>; returns once it accepts
    /// connections.</summary>
    public Task StartAgain(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (postmaster is not null) throw new InvalidOperationException("the server is running; Stop it first");
        return Launch(cancellationToken);
    }

    /// <summary><see cref="Stop"/> then <see cref="StartAgain"/>.</summary>
    public async Task Restart(CancellationToken cancellationToken = default)
    {
        await Stop();
        await StartAgain(cancellationToken);
    }

    /// <summary>Everything initdb and the server wrote so far, with a marker line at each start.</summary>
    public string Log()
    {
        lock (log) return log.ToString();
    }

    /// <summary>Immediate shutdown (SIGQUIT, SIGKILL after a deadline), then deletes the folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (disposed) return;
        disposed = true;
        await StopPostmaster(SigQuit);
        for (var attempt = 1; Directory.Exists(Folder); attempt++)
        {
            try
            {
                Directory.Delete(Folder, recursive: true);
            }
            catch (IOException) when (attempt < 10)
            {
                // A process that was just killed may still be closing a file for a moment.
                await Task.Delay(100);
            }
        }
    }

    /// <summary>The highest version's bin folder under /usr/lib/postgresql.</summary>
    private static string Binaries()
    {
        var found = Directory.Exists(InstallRoot)
            ? Directory.GetDirectories(InstallRoot)
                .Select(folder => (bin: Path.Combine(folder, "bin"), version: ParseVersion(Path.GetFileName(folder))))
                .Where(c => c.version is not null && File.Exists(Path.Combine(c.bin, "initdb")) && File.Exists(Path.Combine(c.bin, "postgres")))
                .OrderByDescending(c => c.version)
                .Select(c => c.bin)
                .FirstOrDefault()
            : null;
        return found ?? throw new InvalidOperationException(
            $"PostgreSQL is not installed: no {InstallRoot}/<version>/bin/initdb and postgres. The PostgreSQL tests need it: " +
            "./test.sh installs it (Debian package postgresql), or run `apt-get install postgresql` as root.");
    }

    // Debian names the folders "15", "16" (and "9.6" for old ones); Version wants at least major.minor.
    private static Version? ParseVersion(string name) => Version.TryParse(name.Contains('.') ? name : name + ".0", out var v) ? v : null;

    private string ConnectionStringFor(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = Superuser,
        Database = database,
        Timeout = 5,
        CommandTimeout = 15,
    }.ConnectionString;

    private static string Unpooled(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Timeout = 2 }.ConnectionString;

    /// <summary>Runs postgres on the data folder and waits until it accepts connections; on failure it is stopped again.</summary>
    private async Task Launch(CancellationToken cancellationToken)
    {
        int logStart;
        lock (log)
        {
            log.AppendLine(CultureInfo.InvariantCulture, $"--- {DateTime.UtcNow:HH:mm:ss.fff} postgres starting on 127.0.0.1:{Port} ---");
            logStart = log.Length;
        }
        var process = new Process
        {
            StartInfo = StartInfo(Path.Combine(bin, "postgres"),
            [
                "-D", DataFolder,
                "-p", Port.ToString(CultureInfo.InvariantCulture),
                "-k", SocketFolder,
                "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
                // Several test servers may run at once; the default 128MB each is more than tests need.
                "-c", "shared_buffers=32MB",
            ], asOsUser),
        };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        postmaster = process;
        StartWatchdog(process.Id);
        try
        {
            await WaitUntilReady(process, cancellationToken);
        }
        catch (InvalidOperationException) when (process.HasExited && LogSince(logStart).Contains("could not bind", StringComparison.Ordinal))
        {
            await StopPostmaster(SigQuit);
            throw new PortTakenException();
        }
        catch
        {
            await StopPostmaster(SigQuit);
            throw;
        }
    }

    private async Task WaitUntilReady(Process process, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(StartDeadline);
        var probe = Unpooled(ConnectionString);
        try
        {
            while (true)
            {
                if (process.HasExited)
                {
                    // Drains the output, so the log below holds the reason.
                    await process.WaitForExitAsync(deadline.Token);
                    throw new InvalidOperationException($"postgres exited with code {process.ExitCode} before it accepted connections:\n{Log()}");
                }
                try
                {
                    await using var connection = new NpgsqlConnection(probe);
                    await connection.OpenAsync(deadline.Token);
                    return;
                }
                catch (NpgsqlException)
                {
                    // Not listening yet (refused) or still starting up or recovering (57P03).
                }
                await Task.Delay(50, deadline.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"postgres did not accept connections on 127.0.0.1:{Port} within {StartDeadline.TotalSeconds:0} s:\n{Log()}");
        }
    }

    /// <summary>Signals the postmaster and waits until it and every process it forked are gone: they all hold its redirected
    /// output, and WaitForExitAsync also waits for that output's end. SIGKILL to the whole tree when the deadline passes.</summary>
    private async Task StopPostmaster(int signal)
    {
        var process = postmaster;
        if (process is null) return;
        postmaster = null;
        try
        {
            if (!process.HasExited) kill(process.Id, signal);
            try
            {
                await process.WaitForExitAsync().WaitAsync(StopDeadline);
            }
            catch (TimeoutException)
            {
                Append($"--- postgres did not stop within {StopDeadline.TotalSeconds:0} s of signal {signal}; killing it ---");
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().WaitAsync(StopDeadline);
            }
        }
        finally
        {
            process.Dispose();
            StopWatchdog();
        }
    }

    /// <summary>A shell that waits for EOF on its stdin, a pipe whose write end only this process holds: the kernel closes it
    /// when this process dies, however it dies, and the shell then stops postgres (immediate) and deletes the folder.</summary>
    private void StartWatchdog(int postmasterId)
    {
        var start = new ProcessStartInfo("sh") { RedirectStandardInput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(
            """
            cat >/dev/null
            kill -QUIT "$1" 2>/dev/null
            i=0
            while kill -0 "$1" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
            kill -KILL "$1" 2>/dev/null
            rm -rf "$2"
            """);
        start.ArgumentList.Add("growlength-postgres-watchdog");
        start.ArgumentList.Add(postmasterId.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add(Folder);
        watchdog = Process.Start(start);
    }

    private void StopWatchdog()
    {
        var process = watchdog;
        if (process is null) return;
        watchdog = null;
        // Killed, not released: closing its stdin would make it act on a postmaster id that may be reused by now.
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already reaped.
        }
        process.Dispose();
    }

    /// <summary>Runs a tool to its end, its output into the log; throws with that output on a nonzero exit code.</summary>
    private async Task RunToCompletion(string file, IReadOnlyList<string> arguments, bool asOsUser, CancellationToken cancellationToken)
    {
        var output = new StringBuilder();
        using var process = new Process { StartInfo = StartInfo(file, arguments, asOsUser) };
        void Received(string? line)
        {
            if (line is null) return;
            lock (output) output.AppendLine(line);
            Append(line);
        }
        process.OutputDataReceived += (_, e) => Received(e.Data);
        process.ErrorDataReceived += (_, e) => Received(e.Data);
        Append($"--- {Path.GetFileName(file)} {string.Join(' ', arguments)}{(asOsUser ? $" (as {OsUser})" : "")} ---");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        if (process.ExitCode != 0)
        {
            var why = asOsUser ? $" (run as the {OsUser} user because PostgreSQL refuses root)" : "";
            lock (output) throw new InvalidOperationException($"{Path.GetFileName(file)} exited with code {process.ExitCode}{why}:\n{output}");
        }
    }

    private ProcessStartInfo StartInfo(string file, IEnumerable<string> arguments, bool asOsUser)
    {
        var start = new ProcessStartInfo
        {
            WorkingDirectory = Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asOsUser)
        {
            // setpriv execs the program (runuser would fork and stay between), so the child process is the program itself.
            start.FileName = "setpriv";
            foreach (var a in new[] { $"--reuid={OsUser}", $"--regid={OsUser}", "--init-groups", "--", file }) start.ArgumentList.Add(a);
        }
        else
        {
            start.FileName = file;
        }
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // The caller's PGHOST, PGDATA, PGOPTIONS and the like would reach into the tools; C messages keep the log readable.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList()) start.Environment.Remove(name);
        start.Environment["LC_ALL"] = "C";
        return start;
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (log) log.AppendLine(line);
    }

    private string LogSince(int index)
    {
        lock (log) return log.ToString(index, log.Length - index);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>postgres could not bind its port: taken since <see cref="SiloProcess.FreePort"/> saw it free.</summary>
    private sealed class PortTakenException : Exception;
}
