using System.Diagnostics;
using GrowLength.Tests.Shared;
using Npgsql;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>deploy/docker/entrypoint.sh, the images' entry point, run here by /bin/sh: it turns secret files into the
/// silo's settings and refuses contradictions.</summary>
public sealed class EntrypointScriptTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("growlength-entrypoint-").FullName;

    [Fact]
    public void ThePostgresPasswordFileCompletesTheConnectionStringWhateverItsCharacters()
    {
        // Separators of a connection string, a quote, and the newline an editor leaves at the end of the file.
        const string Password = "p;a\"ss=w'rd";
        var file = Write("postgres_password", Password + "\n");
        var dashboard = Write("dashboard_password", "dash board\n");
        var (code, output) = Run(new()
        {
            ["GROWLENGTH__POSTGRESCONNECTION"] = "Host=db;Port=5432;Username=growlength;Database=growlength",
            ["GROWLENGTH_POSTGRES_PASSWORD_FILE"] = file,
            ["GROWLENGTH_DASHBOARD_PASSWORD_FILE"] = dashboard,
        });
        Assert.True(code == 0, output);
        var variables = output.Split('\n').Where(l => l.Contains('=')).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var connection = new NpgsqlConnectionStringBuilder(variables["GROWLENGTH__POSTGRESCONNECTION"]);
        Assert.Equal(Password, connection.Password);
        Assert.Equal("db", connection.Host);
        Assert.Equal("growlength", connection.Database);
        Assert.Equal("dash board", variables["GROWLENGTH__DASHBOARDPASSWORD"]);
    }

    [Fact]
    public void WithoutSecretFilesTheEnvironmentIsLeftAsItIs()
    {
        var (code, output) = Run(new() { ["GROWLENGTH__POSTGRESCONNECTION"] = "Host=db;Password=given" });
        Assert.True(code == 0, output);
        Assert.Contains("GROWLENGTH__POSTGRESCONNECTION=Host=db;Password=given\n", output, StringComparison.Ordinal);
        Assert.DoesNotContain("GROWLENGTH__DASHBOARDPASSWORD", output, StringComparison.Ordinal);
    }

    [Fact]
    public void APasswordInBothPlacesIsRefused()
    {
        var (code, output) = Run(new()
        {
            ["GROWLENGTH__POSTGRESCONNECTION"] = "Host=db;Password=given",
            ["GROWLENGTH_POSTGRES_PASSWORD_FILE"] = Write("postgres_password", "other"),
        });
        Assert.Equal(2, code);
        Assert.Contains("already has a password", output, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingSecretFileIsRefusedNamingIt()
    {
        var missing = Path.Combine(folder, "absent");
        var (code, output) = Run(new()
        {
            ["GROWLENGTH__POSTGRESCONNECTION"] = "Host=db",
            ["GROWLENGTH_POSTGRES_PASSWORD_FILE"] = missing,
        });
        Assert.Equal(2, code);
        Assert.Contains($"GROWLENGTH_POSTGRES_PASSWORD_FILE: cannot read {missing}", output, StringComparison.Ordinal);
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(folder, name);
        File.WriteAllText(path, content);
        return path;
    }

    // Runs the script with a clean environment plus these variables, and `env` as the program it execs.
    private static (int Code, string Output) Run(Dictionary<string, string> variables)
    {
        var start = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(SiloProcess.RepoRoot(), "deploy", "docker", "entrypoint.sh"));
        start.ArgumentList.Add("env");
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/bin:/bin";
        foreach (var (name, value) in variables) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(10_000), "entrypoint.sh did not end within 10 s");
        return (process.ExitCode, output.Result + error.Result);
    }

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }
}
