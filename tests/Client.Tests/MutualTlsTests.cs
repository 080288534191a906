using System.Diagnostics;
using GrowLength.Tests.Shared;
using Xunit.Abstractions;

namespace GrowLength.Client.Tests;

/// <summary>Two throwaway authorities made by `growlength certs` (the cluster's, "a", and another, "b") and one
/// <c>GrowLength.Silo</c> process with a's silo certificate, shared by the facts of <see cref="MutualTlsTests"/>.</summary>
public sealed class TlsSilo : IAsyncLifetime
{
    private readonly TempFolder temp = new();

    internal SiloProcess Silo { get; private set; } = null!;

    public string Root => temp.Path;

    /// <summary>What the program takes for --cluster.</summary>
    public string Gateway => $"127.0.0.1:{Silo.GatewayPort}";

    /// <summary>A file `growlength certs` wrote for <paramref name="authority"/> ("a" or "b").</summary>
    public string File(string authority, string name) => temp.Combine(authority, name);

    /// <summary>The client options with <paramref name="authority"/>'s client certificate, key and authority.</summary>
    public string[] ClientOptions(string authority) =>
        ["--tls-cert", File(authority, "client.crt"), "--tls-key", File(authority, "client.key"), "--tls-ca", File(authority, "ca.crt")];

    /// <summary>The silo settings (without the --GrowLength: prefix) with <paramref name="authority"/>'s silo certificate.</summary>
    public string[] SiloSettings(string authority) =>
        [$"TlsCertificate={File(authority, "silo.crt")}", $"TlsKey={File(authority, "silo.key")}", $"TlsAuthority={File(authority, "ca.crt")}"];

    public async Task InitializeAsync()
    {
        foreach (var authority in new[] { "a", "b" })
        {
            var made = GrowLengthProgram.Run(temp.Path, 60, "certs", "--out", temp.Combine(authority));
            if (made.ExitCode != 0) throw new InvalidOperationException($"growlength certs failed: {made}");
        }
        // The default cluster id, the only one the program speaks.
        Silo = await SiloProcess.Start("tls", "growlength", temp.Combine("silo"), settings: SiloSettings("a"));
        // Ready once the program gets an answer: a silo just started can take longer to serve its first client than the
        // program's connect allows on a busy machine, and no fact is about that.
        var deadline = DateTime.UtcNow.AddSeconds(120);
        for (var list = GrowLengthProgram.Run(temp.Path, 60, ["list", "--cluster", Gateway, .. ClientOptions("a")]); list.ExitCode != 0;
             list = GrowLengthProgram.Run(temp.Path, 60, ["list", "--cluster", Gateway, .. ClientOptions("a")]))
        {
            if (DateTime.UtcNow > deadline)
            {
                Silo.Dispose();
                throw new TimeoutException($"the program got no answer from the TLS silo within 120 s; last try: {list}\n--- silo ---\n{Silo.Output}");
            }
        }
    }

    public Task DisposeAsync()
    {
        Silo?.Dispose();
        temp.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>Mutual TLS between real processes: a silo with the cluster authority's certificate serves a client with one
/// of its certificates, and refuses (in a bounded time, saying TLS was why) a client without one or with another
/// authority's; a silo of another authority cannot join; bad TLS settings and options exit 2 naming them.</summary>
public sealed class MutualTlsTests(TlsSilo fixture, ITestOutputHelper output) : IClassFixture<TlsSilo>
{
    /// <summary>A refused connection is said within this: three connection tries and the TLS probe, not a hang.</summary>
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(30);

    [Fact]
    public void AClientWithACertificateOfTheClusterAuthorityIsServed()
    {
        var list = Program(["list", "--cluster", fixture.Gateway, .. fixture.ClientOptions("a")]);
        Assert.True(list.ExitCode == 0, Because(list));
        Assert.Contains("no runs yet", list.Stdout);

        // The same files from the environment.
        var fromEnvironment = GrowLengthProgram.RunWith(new Dictionary<string, string?>
        {
            ["GROWLENGTH_TLS_CERT"] = fixture.File("a", "client.crt"),
            ["GROWLENGTH_TLS_KEY"] = fixture.File("a", "client.key"),
            ["GROWLENGTH_TLS_CA"] = fixture.File("a", "ca.crt"),
        }, fixture.Root, 60, "list", "--cluster", fixture.Gateway);
        Assert.True(fromEnvironment.ExitCode == 0, Because(fromEnvironment));
        Assert.Contains("no runs yet", fromEnvironment.Stdout);
    }

    [Fact]
    public void AProgramOnTheHomeOfATlsSiloIsToldAtOnceHowToConnect()
    {
        // The silo holds its home's state folder; a program on that home (no --cluster) would reach it in plain text.
        var clock = Stopwatch.StartNew();
        var list = Program("list", "--home", Path.Combine(fixture.Root, "silo"));
        Assert.True(clock.Elapsed < Bounded, $"took {clock.Elapsed.TotalSeconds:F1} s; {Because(list)}");
        Assert.True(list.ExitCode == 3, Because(list));
        Assert.Contains($"a silo with mutual TLS: connect with --cluster {fixture.Gateway} and --tls-cert, --tls-key, --tls-ca", list.Stderr);
    }

    [Fact]
    public void AClientWithoutACertificateIsRefusedAndToldTheGatewayRequiresTls()
    {
        var clock = Stopwatch.StartNew();
        var list = Program("list", "--cluster", fixture.Gateway);
        Assert.True(clock.Elapsed < Bounded, $"took {clock.Elapsed.TotalSeconds:F1} s; {Because(list)}");
        Assert.True(list.ExitCode == 3, Because(list));
        Assert.StartsWith($"error: cannot connect to the cluster at {fixture.Gateway}: TLS: the gateway requires TLS", list.Stderr.Trim());
        Assert.Contains("give --tls-cert, --tls-key and --tls-ca", list.Stderr);
        Assert.DoesNotContain("   at ", list.Output);
    }

    [Fact]
    public void AClientOfAnotherAuthorityIsRefusedAndToldTheCertificateIsNotSigned()
    {
        var clock = Stopwatch.StartNew();
        var list = Program(["list", "--cluster", fixture.Gateway, .. fixture.ClientOptions("b")]);
        Assert.True(clock.Elapsed < Bounded, $"took {clock.Elapsed.TotalSeconds:F1} s; {Because(list)}");
        Assert.True(list.ExitCode == 3, Because(list));
        Assert.StartsWith($"error: cannot connect to the cluster at {fixture.Gateway}: TLS: the gateway's certificate (CN=growlength silo, issued by CN=GrowLength throwaway CA ", list.Stderr.Trim());
        Assert.Contains($"is not signed by the authority in {fixture.File("b", "ca.crt")}", list.Stderr);
        Assert.DoesNotContain("   at ", list.Output);
    }

    [Fact]
    public async Task ASiloOfAnotherAuthorityCannotJoinTheCluster()
    {
        // The control: a second silo with the cluster authority's certificate joins (its host starts only once it is an
        // active member), so what keeps the next one out is its certificate, not the way they are started.
        using (var member = await SiloProcess.Start("tls-member", "growlength", Path.Combine(fixture.Root, "silo"), primary: fixture.Silo, settings: fixture.SiloSettings("a")))
            output.WriteLine($"silo tls-member (authority a) joined, pid {member.Id}");

        using var outsider = SiloProcess.Launch([], "tls-outsider", "growlength", Path.Combine(fixture.Root, "silo"), primary: fixture.Silo, settings: fixture.SiloSettings("b"));
        // Its own log says why: the first silo's certificate is not signed by its authority (and the first silo refuses its).
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!outsider.Output.Contains("The remote certificate was rejected", StringComparison.Ordinal))
        {
            Assert.False(outsider.HasExited, $"the outsider exited before it tried the cluster:\n{outsider.Output}");
            Assert.True(DateTime.UtcNow < deadline, $"no TLS refusal in the outsider's log within 60 s:\n{outsider.Output}");
            await Task.Delay(250);
        }
        // Well past the member's start: still not a member.
        await Task.Delay(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain("Application started", outsider.Output);
        Assert.Contains("Authentication failed", fixture.Silo.Output);
        output.WriteLine($"silo tls-outsider (authority b) not started after its first TLS refusal and 10 s more:\n{outsider.Output[..Math.Min(3000, outsider.Output.Length)]}");
    }

    [Fact]
    public async Task TwoWorkersOnTwoTlsSilosSendTheirGradientsOverTheDataPlaneWithMutualTls()
    {
        using var member = await SiloProcess.Start("tls-data", "growlength", Path.Combine(fixture.Root, "silo"), primary: fixture.Silo, settings: fixture.SiloSettings("a"));
        var corpus = TinyCorpus.Write(Path.Combine(fixture.Root, "tls-corpus"));
        // At least 2: a silo another fact killed a moment ago can still be listed, and a worker placed there would leave the
        // run on one worker, with nothing to exchange.
        // A whole run (30 s once on the shared machine), not a single call: more time than the facts' 60 s.
        var run = GrowLengthProgram.Run(fixture.Root, 240, ["run", "--preset", "tiny", $"--data.path={corpus}", "--budget.tokens=12288", "--workers", "2",
            "--min-workers", "2", "--run-id", "tls-data", "--cluster", fixture.Gateway, .. fixture.ClientOptions("a")]);
        output.WriteLine(run.ToString());
        Assert.True(run.ExitCode == 0, Because(run) + $"\n--- silo ---\n{fixture.Silo.Output}\n--- member ---\n{member.Output}");
        // One worker on each silo: each sent to the other over the data plane, under the cluster's mutual TLS.
        output.WriteLine($"--- silo ---\n{fixture.Silo.Output}\n--- member ---\n{member.Output}");
        Assert.Contains("2 workers on", run.Stdout);
        foreach (var silo in new[] { fixture.Silo, member })
        {
            Assert.Contains("(mutual TLS)", silo.Output.Split('\n').Single(l => l.Contains("Gradient data plane of silo", StringComparison.Ordinal) && l.Contains("listens on", StringComparison.Ordinal)));
            Assert.Contains(silo.Output.Split('\n'), l => l.Contains("of tls-data sends gradient chunks to rank", StringComparison.Ordinal) && l.Contains("over the data plane at 127.0.0.1:", StringComparison.Ordinal) && l.Contains("(mutual TLS)", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("missing key", "GrowLength:TlsKey: is required with GrowLength:TlsCertificate and GrowLength:TlsAuthority")]
    [InlineData("key file absent", "GrowLength:TlsKey: cannot read ")]
    [InlineData("key of another certificate", "GrowLength:TlsKey: the key in ")]
    [InlineData("certificate of another authority", "GrowLength:TlsCertificate: the certificate in ")]
    [InlineData("authority not a certificate", "GrowLength:TlsAuthority: ")]
    public void ABadTlsSettingIsNamedBeforeAnythingStarts(string mistake, string error)
    {
        var (certificate, key, authority) = (fixture.File("a", "silo.crt"), fixture.File("a", "silo.key"), fixture.File("a", "ca.crt"));
        var settings = mistake switch
        {
            "missing key" => new[] { $"TlsCertificate={certificate}", $"TlsAuthority={authority}" },
            "key file absent" => [$"TlsCertificate={certificate}", $"TlsKey={fixture.File("a", "absent.key")}", $"TlsAuthority={authority}"],
            "key of another certificate" => [$"TlsCertificate={certificate}", $"TlsKey={fixture.File("a", "client.key")}", $"TlsAuthority={authority}"],
            "certificate of another authority" => [$"TlsCertificate={certificate}", $"TlsKey={key}", $"TlsAuthority={fixture.File("b", "ca.crt")}"],
            _ => [$"TlsCertificate={certificate}", $"TlsKey={key}", $"TlsAuthority={fixture.File("a", "ca.key")}"],
        };
        using var temp = new TempFolder();
        var home = temp.Combine("home");
        var result = Program(["silo", "--home", home, "--GrowLength:MetricsPort=0", .. settings.Select(s => $"--GrowLength:{s}")]);
        Assert.True(result.ExitCode == 2, Because(result));
        Assert.StartsWith($"error: {error}", result.Stderr.Trim());
        Assert.DoesNotContain("silo started", result.Stdout);
        Assert.False(Directory.Exists(home), $"{home} was created");
        switch (mistake)
        {
            case "key file absent": Assert.Contains(fixture.File("a", "absent.key"), result.Stderr); break;
            case "key of another certificate": Assert.Contains($"the key in {fixture.File("a", "client.key")} does not belong to the certificate in {certificate}", result.Stderr); break;
            case "certificate of another authority": Assert.Contains($"is not signed by the authority in {fixture.File("b", "ca.crt")}", result.Stderr); break;
            case "authority not a certificate": Assert.Contains($"{fixture.File("a", "ca.key")} is not a PEM certificate", result.Stderr); break;
        }
    }

    [Fact]
    public async Task TheSiloProgramRefusesABadTlsSettingWithExitCode2()
    {
        using var temp = new TempFolder();
        var silo = SiloProcess.Launch([], "tls-bad", "growlength", temp.Path, settings: [$"TlsCertificate={fixture.File("a", "silo.crt")}", $"TlsKey={fixture.File("b", "silo.key")}", $"TlsAuthority={fixture.File("a", "ca.crt")}"]);
        using (silo)
        {
            var failed = await Assert.ThrowsAsync<InvalidOperationException>(silo.WaitStarted);
            Assert.Contains("exited with code 2 before it started", failed.Message);
            Assert.Contains($"error: GrowLength:TlsKey: the key in {fixture.File("b", "silo.key")} does not belong to the certificate in {fixture.File("a", "silo.crt")}", failed.Message);
        }
    }

    [Theory]
    [InlineData("--tls-key", "error: --tls-key: is required with --tls-cert and --tls-ca")]
    [InlineData("--tls-cert", "error: --tls-cert: cannot read ")]
    [InlineData("GROWLENGTH_TLS_KEY", "error: GROWLENGTH_TLS_KEY: the key in ")]
    public void ABadClientTlsOptionIsNamed(string mistake, string error)
    {
        var environment = new Dictionary<string, string?>();
        string[] options = mistake switch
        {
            "--tls-key" => ["--tls-cert", fixture.File("a", "client.crt"), "--tls-ca", fixture.File("a", "ca.crt")],
            "--tls-cert" => ["--tls-cert", fixture.File("a", "absent.crt"), "--tls-key", fixture.File("a", "client.key"), "--tls-ca", fixture.File("a", "ca.crt")],
            _ => [],
        };
        if (mistake == "GROWLENGTH_TLS_KEY")
        {
            environment["GROWLENGTH_TLS_CERT"] = fixture.File("a", "client.crt");
            environment["GROWLENGTH_TLS_KEY"] = fixture.File("a", "silo.key");
            environment["GROWLENGTH_TLS_CA"] = fixture.File("a", "ca.crt");
        }
        var result = GrowLengthProgram.RunWith(environment, fixture.Root, 60, ["list", "--cluster", fixture.Gateway, .. options]);
        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 2, Because(result));
        Assert.StartsWith(error, result.Stderr.Trim());
    }

    private ProgramResult Program(params string[] args)
    {
        var clock = Stopwatch.StartNew();
        var result = GrowLengthProgram.Run(fixture.Root, 60, args);
        output.WriteLine($"growlength {string.Join(' ', args)} ({clock.Elapsed.TotalSeconds:F1} s): {result}");
        return result;
    }

    private string Because(ProgramResult result)
    {
        var silo = fixture.Silo.Output;
        return $"{result}\n--- silo (last 4000 characters) ---\n{silo[Math.Max(0, silo.Length - 4000)..]}";
    }
}
