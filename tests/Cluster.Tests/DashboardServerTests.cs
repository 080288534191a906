using System.Net;
using System.Net.Http.Headers;
using System.Text;
using GrowLength.Grains.Hosting;
using GrowLength.Tests.Shared;

namespace GrowLength.Cluster.Tests;

/// <summary>The optional Orleans Dashboard (GrowLength:DashboardPort) on a real GrowLength.Silo process: basic
/// authentication in front of every page, the password from GROWLENGTH__DASHBOARDPASSWORD, a refusal without one, and a
/// warning when it listens beyond loopback.</summary>
public sealed class DashboardServerTests : IDisposable
{
    private const string Password = "correct horse";
    private const string Exposed = "The Orleans Dashboard listens on";
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"growlength-dashboard-{Guid.NewGuid():N}");
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(20) };
    private readonly List<SiloProcess> silos = [];

    [Fact]
    public async Task TheDashboardAsksForThePasswordFromTheEnvironmentAndServesWithIt()
    {
        var port = SiloProcess.FreePort();
        var silo = await Start(["env", $"GROWLENGTH__DASHBOARDPASSWORD={Password}"], $"DashboardPort={port}");
        var url = $"http://127.0.0.1:{port}/";

        using var anonymous = await http.GetAsync(url);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("Basic", anonymous.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(url, "admin", "wrong")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(url, "root", Password)).StatusCode);

        using var page = await Get(url, "admin", Password);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<html", await page.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        // The dashboard's API answers from the silo's own services: this silo is in the cluster it reports. Its grain
        // refreshes the counters at most once a second, so the first answers may list no silo yet.
        var reported = "";
        for (var deadline = DateTime.UtcNow.AddSeconds(20); DateTime.UtcNow < deadline && !reported.Contains($"127.0.0.1:{silo.SiloPort}", StringComparison.Ordinal);)
        {
            using var counters = await Get($"{url}DashboardCounters", "admin", Password);
            Assert.Equal(HttpStatusCode.OK, counters.StatusCode);
            reported = await counters.Content.ReadAsStringAsync();
            await Task.Delay(250);
        }
        Assert.Contains($"127.0.0.1:{silo.SiloPort}", reported, StringComparison.Ordinal);
        Assert.DoesNotContain(Exposed, silo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADashboardBeyondLoopbackIsServedWithAWarning()
    {
        var port = SiloProcess.FreePort();
        var silo = await Start([], $"DashboardPort={port}", "DashboardHost=0.0.0.0", "DashboardUser=operator", $"DashboardPassword={Password}");
        using var page = await Get($"http://127.0.0.1:{port}/", "operator", Password);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains(Exposed, silo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADashboardPortWithoutAPasswordIsRefusedWithExitCode2()
    {
        var silo = SiloProcess.Launch([], "no-password", $"gl-{Guid.NewGuid():N}"[..16], folder, settings: $"DashboardPort={SiloProcess.FreePort()}");
        silos.Add(silo);
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(silo.WaitStarted);
        Assert.Contains("exited with code 2", refused.Message, StringComparison.Ordinal);
        Assert.Contains("GrowLength:DashboardPassword", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("Bearer abc", false)]
    [InlineData("Basic not-base64!", false)]
    [InlineData("Basic YWRtaW4=", false)] // "admin": no colon
    [InlineData("Basic YWRtaW46", false)] // "admin:": empty password
    [InlineData("Basic YWRtaW46cGFzczp3b3Jk", true)] // "admin:pass:word": the password may hold a colon
    [InlineData("basic YWRtaW46cGFzczp3b3Jk", true)] // the scheme is case-insensitive
    [InlineData("Basic QURNSU46cGFzczp3b3Jk", false)] // "ADMIN:pass:word": the user is not
    public void BasicAuthenticationAcceptsExactlyTheUserAndPassword(string? header, bool allowed) =>
        Assert.Equal(allowed, DashboardBasicAuthentication.Allows(header, "admin", "pass:word"));

    private async Task<SiloProcess> Start(string[] launcher, params string[] settings)
    {
        var silo = SiloProcess.Launch(launcher, "dashboard", $"gl-{Guid.NewGuid():N}"[..16], folder, settings: settings);
        silos.Add(silo);
        await silo.WaitStarted();
        return silo;
    }

    private async Task<HttpResponseMessage> Get(string url, string user, string password)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return await http.SendAsync(request);
    }

    public void Dispose()
    {
        foreach (var silo in silos) silo.Dispose();
        http.Dispose();
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
