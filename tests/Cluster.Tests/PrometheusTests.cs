using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using GrowLength.Grains;
using GrowLength.Tests.Shared;
using GrowLength.Training.Run;
using GrowLength.Training.Schedules;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace GrowLength.Cluster.Tests;

/// <summary>The monitoring stack end to end: a real Prometheus (Debian's <c>prometheus</c>, installed by test.sh) scrapes a
/// real <c>GrowLength.Silo</c> process with the project's own deploy/prometheus/prometheus.yml while a tiny run trains, and
/// every PromQL query of the Grafana dashboard (deploy/grafana/dashboards/growlength.json: panels' targets and annotations)
/// returns data for that run.</summary>
public sealed class PrometheusTests(SiloProcessFixture fixture, ITestOutputHelper output) : IClassFixture<SiloProcessFixture>, IDisposable
{
    private const string PrometheusBinary = "/usr/bin/prometheus";
    private const string RunId = "prometheus-tiny";
    // Distinct values of the run's token counter Prometheus must have scraped while it trained.
    private const int MinScrapes = 4;

    // How long one dashboard query may keep coming back empty: scrapes and rule windows are periodic.
    private static readonly TimeSpan QueryPatience = TimeSpan.FromSeconds(20);

    private readonly string clusterId = $"gl-{Guid.NewGuid():N}"[..16];
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"growlength-prometheus-{Guid.NewGuid():N}");
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly StringBuilder prometheusOutput = new();
    private SiloProcess? silo;
    private IHost? client;
    private Process? prometheus;
    private int prometheusPort;

    private void Log(string message) => output.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s  {message}");

    [Fact]
    public async Task EveryDashboardQueryReturnsDataFromARealSiloScrapedByPrometheus()
    {
        // Fail, never skip: a CI machine without Prometheus would otherwise pass without testing the dashboard.
        Assert.True(File.Exists(PrometheusBinary),
            $"{PrometheusBinary} is missing: run ./test.sh (it installs Debian's prometheus package) or apt-get install prometheus");
        Directory.CreateDirectory(folder);
        var queries = DashboardQueries();
        Assert.NotEmpty(queries);

        silo = await SiloProcess.Start("metrics", clusterId, Path.Combine(folder, "silo"));
        Log($"silo started (pid {silo.Id}), metrics on 127.0.0.1:{silo.MetricsPort}");
        await StartPrometheus(silo.MetricsPort);
        Log($"prometheus ready on 127.0.0.1:{prometheusPort}");
        var grains = await Connect(silo);

        // Scraped before the run starts, so the scrapes every second see it train.
        await WaitFor("the silo target up", async () => (await Query("up{job=\"growlength-silos\"}")).Any(s => s.Values.Contains(1.0)));
        Log("target scraped (up == 1)");

        // The tiny model (lengths 16 → 32 → 64) with a budget far beyond what the test waits for and a checkpoint every 5
        // steps, so the checkpoint histogram gets data; one worker, so the exchange histogram records 0-second exchanges.
        // A tiny step takes milliseconds on an idle machine and far longer on a loaded one, so instead of a fixed step count
        // the run trains until Prometheus has scraped it several times (MinScrapes distinct token counts) and has seen a
        // checkpoint, then stops (a graceful stop: one more checkpoint). Validation loss every 5 steps (from step 0 on) feeds
        // the validation-loss panel.
        var spec = fixture.Tiny with
        {
            Budget = new BudgetConfig { Tokens = 512L * 100_000 },
            Checkpoint = new CheckpointConfig { EverySteps = 5, KeepLast = 2 },
            Eval = fixture.Tiny.Eval with { EverySteps = 5 },
        };
        var start = DateTimeOffset.UtcNow.AddSeconds(-2);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>(RunId);
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(spec)));
        await coordinator.Start(new StartRun(1));
        var tokens = $"sum(growlength_tokens_total{{run=\"{RunId}\"}})";
        var checkpoints = $"sum(growlength_checkpoint_duration_seconds_count{{run=\"{RunId}\"}})";
        var trainUntil = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            var running = await coordinator.Status();
            Assert.True(running.Lifecycle is RunLifecycle.Created or RunLifecycle.Running,
                $"the run must train until Prometheus scraped it: {running.Lifecycle} at step {running.Step}: {running.Reason}\n{silo.Output}");
            var distinct = (await QueryRange(tokens, start, DateTimeOffset.UtcNow)).SelectMany(s => s.Values).Distinct().Count();
            var checkpointed = (await Query(checkpoints)).Any(s => s.Values.Any(v => v > 0));
            if (distinct >= MinScrapes && checkpointed)
            {
                Log($"{distinct} distinct token counts and a checkpoint scraped while the run trained (step {running.Step}); stopping it");
                break;
            }
            if (DateTime.UtcNow > trainUntil)
                throw new TimeoutException($"after 2 min of training Prometheus saw {distinct} distinct values of {tokens} (want {MinScrapes}), "
                    + $"checkpoint seen: {checkpointed}\n---- prometheus ----\n{PrometheusOutput()}\n---- silo ----\n{silo.Output}");
            await Task.Delay(250);
        }
        await coordinator.Stop();
        var status = await WaitWhileRunning(coordinator);
        var trained = clock.Elapsed;
        Log($"run {status.Lifecycle} at step {status.Step}");
        Assert.True(status.Lifecycle == RunLifecycle.Stopped, $"{status.Lifecycle}: {status.Reason}\n{silo.Output}");
        // The last step's count scraped: the query window below covers the whole run.
        await WaitFor("the final token count scraped", async () =>
            (await Query(tokens)).Any(s => s.Values.Contains(512.0 * status.Step)));

        // Every dashboard query over the run's window; each retried until it has data or QueryPatience has passed.
        var pending = queries.ToDictionary(q => q, _ => "no series");
        var deadline = DateTime.UtcNow + QueryPatience;
        while (pending.Count > 0)
        {
            foreach (var query in pending.Keys.ToArray())
            {
                var (series, error) = await TryQueryRange(query.Expr, start, DateTimeOffset.UtcNow);
                if (error is not null) pending[query] = error;
                else if (series.Any(s => s.Values.Any(v => !double.IsNaN(v))))
                {
                    pending.Remove(query);
                    Log($"{series.Length} series: {query.Where} '{query.Title}': {query.Expr}");
                }
                else pending[query] = series.Length == 0 ? "no series" : $"{series.Length} series, every value NaN";
            }
            if (pending.Count == 0 || DateTime.UtcNow > deadline) break;
            await Task.Delay(1000);
        }
        Log($"{queries.Count - pending.Count} of {queries.Count} dashboard queries returned data ({(clock.Elapsed - trained).TotalSeconds:F1} s after the run)");
        Assert.True(pending.Count == 0,
            $"dashboard queries with no data for run {RunId} after {QueryPatience.TotalSeconds:F0} s:\n"
            + string.Join("\n", pending.Select(p => $"  {p.Key.Where} '{p.Key.Title}': {p.Key.Expr}  ({p.Value})")));
    }

    private sealed record DashboardQuery(string Where, string Title, string Expr);

    private sealed record Series(string Labels, double[] Values);

    /// <summary>Every PromQL expression of the committed dashboard (panels' targets, also inside rows, and annotations)
    /// with the <c>$run</c> template variable replaced by the test's run id, as Grafana does for a single selected run.</summary>
    private static List<DashboardQuery> DashboardQueries()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(SiloProcess.RepoRoot(), "deploy", "grafana", "dashboards", "growlength.json")));
        var queries = new List<DashboardQuery>();
        void Panels(JsonElement panels)
        {
            foreach (var panel in panels.EnumerateArray())
            {
                var title = panel.TryGetProperty("title", out var t) ? t.GetString() ?? "" : "";
                if (panel.TryGetProperty("targets", out var targets))
                    foreach (var target in targets.EnumerateArray())
                        if (target.TryGetProperty("expr", out var expr)) queries.Add(new("panel", title, Substitute(expr.GetString()!)));
                if (panel.TryGetProperty("panels", out var nested)) Panels(nested);
            }
        }
        Panels(dashboard.RootElement.GetProperty("panels"));
        if (dashboard.RootElement.TryGetProperty("annotations", out var annotations) && annotations.TryGetProperty("list", out var list))
            foreach (var annotation in list.EnumerateArray())
                if (annotation.TryGetProperty("expr", out var expr))
                    queries.Add(new("annotation", annotation.GetProperty("name").GetString()!, Substitute(expr.GetString()!)));
        return queries;

        static string Substitute(string expr)
        {
            var substituted = expr.Replace("${run}", RunId, StringComparison.Ordinal).Replace("$run", RunId, StringComparison.Ordinal);
            // Another template variable would need a value here; fail rather than send Prometheus a literal '$'.
            Assert.False(substituted.Contains('$'), $"dashboard query with a template variable the test does not know: {expr}");
            return substituted;
        }
    }

    /// <summary>Writes a config derived from the committed deploy/prometheus/prometheus.yml and starts Prometheus on a free
    /// port with its own temp storage (a system Prometheus on 9090, if any, is never used).</summary>
    private async Task StartPrometheus(int metricsPort)
    {
        // The committed config with two rewrites only: the targets become this test's silo (127.0.0.1:9464/9465 are the
        // defaults of a real deployment), and the scrape and evaluation intervals become 1 s (5 s there) so the test sees
        // several scrapes of a run of a few seconds. Everything else (job name, metrics path) is the committed file's.
        var config = File.ReadAllText(Path.Combine(SiloProcess.RepoRoot(), "deploy", "prometheus", "prometheus.yml"));
        config = ReplaceOnce(config, @"(?m)^([ \t]*-?[ \t]*targets:[ \t]*)\[[^\]\n]*\][ \t]*$", $"$1[\"127.0.0.1:{metricsPort}\"]");
        config = ReplaceOnce(config, @"(?m)^([ \t]*scrape_interval:[ \t]*)\S+[ \t]*$", "${1}1s");
        config = ReplaceOnce(config, @"(?m)^([ \t]*evaluation_interval:[ \t]*)\S+[ \t]*$", "${1}1s");
        var configFile = Path.Combine(folder, "prometheus.yml");
        File.WriteAllText(configFile, config);

        prometheusPort = SiloProcess.FreePort();
        var start = new ProcessStartInfo(PrometheusBinary)
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add($"--config.file={configFile}");
        start.ArgumentList.Add($"--storage.tsdb.path={Path.Combine(folder, "tsdb")}");
        start.ArgumentList.Add($"--web.listen-address=127.0.0.1:{prometheusPort}");
        prometheus = new Process { StartInfo = start };
        prometheus.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (prometheusOutput) prometheusOutput.AppendLine(e.Data); };
        prometheus.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (prometheusOutput) prometheusOutput.AppendLine(e.Data); };
        prometheus.Start();
        prometheus.BeginOutputReadLine();
        prometheus.BeginErrorReadLine();
        await WaitFor("prometheus ready", async () =>
        {
            if (prometheus.HasExited) Assert.Fail($"prometheus exited with code {prometheus.ExitCode}:\n{PrometheusOutput()}");
            try { return (await http.GetAsync($"http://127.0.0.1:{prometheusPort}/-/ready")).IsSuccessStatusCode; }
            catch (HttpRequestException) { return false; }
        });

        static string ReplaceOnce(string text, string pattern, string replacement)
        {
            var count = Regex.Matches(text, pattern).Count;
            Assert.True(count == 1, $"deploy/prometheus/prometheus.yml: expected one line matching {pattern}, found {count}");
            return Regex.Replace(text, pattern, replacement);
        }
    }

    private async Task<Series[]> Query(string expr)
    {
        using var document = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{prometheusPort}/api/v1/query?query={Uri.EscapeDataString(expr)}"));
        return document.RootElement.GetProperty("data").GetProperty("result").EnumerateArray()
            .Select(r => new Series(r.GetProperty("metric").ToString(), [Value(r.GetProperty("value"))])).ToArray();
    }

    private async Task<Series[]> QueryRange(string expr, DateTimeOffset start, DateTimeOffset end)
    {
        var (series, error) = await TryQueryRange(expr, start, end);
        return error is null ? series : throw new InvalidOperationException($"{expr}: {error}");
    }

    /// <summary>A range query at a 1 s step; a query Prometheus rejects comes back as its error text.</summary>
    private async Task<(Series[] Series, string? Error)> TryQueryRange(string expr, DateTimeOffset start, DateTimeOffset end)
    {
        var url = $"http://127.0.0.1:{prometheusPort}/api/v1/query_range?query={Uri.EscapeDataString(expr)}"
            + $"&start={start.ToUnixTimeSeconds()}&end={end.ToUnixTimeSeconds()}&step=1";
        using var response = await http.GetAsync(url);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = document.RootElement;
        if (root.GetProperty("status").GetString() != "success")
            return ([], $"prometheus error: {root.GetProperty("errorType").GetString()}: {root.GetProperty("error").GetString()}");
        var series = root.GetProperty("data").GetProperty("result").EnumerateArray()
            .Select(r => new Series(r.GetProperty("metric").ToString(), r.GetProperty("values").EnumerateArray().Select(Value).ToArray()))
            .ToArray();
        return (series, null);
    }

    /// <summary>A [time, "value"] pair's value ("NaN", "+Inf" included).</summary>
    private static double Value(JsonElement pair) => double.Parse(pair[1].GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture);

    private async Task WaitFor(string what, Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{what}: not within 30 s\n---- prometheus ----\n{PrometheusOutput()}\n---- silo ----\n{silo?.Output}");
            await Task.Delay(250);
        }
    }

    private async Task<IClusterClient> Connect(SiloProcess gateway)
    {
        client = new HostBuilder()
            .UseOrleansClient(c => c.UseLocalhostClustering([gateway.GatewayPort], clusterId, clusterId))
            .Build();
        await client.StartAsync();
        return client.Services.GetRequiredService<IClusterClient>();
    }

    private async Task<RunStatus> WaitWhileRunning(IScheduleCoordinatorGrain coordinator)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            var status = await coordinator.Status();
            if (status.Lifecycle is not (RunLifecycle.Running or RunLifecycle.Stopping)) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"run {status.RunId} still {status.Lifecycle} at step {status.Step}\n{silo?.Output}");
            await Task.Delay(50);
        }
    }

    private string PrometheusOutput()
    {
        lock (prometheusOutput) return prometheusOutput.ToString();
    }

    public void Dispose()
    {
        if (prometheus is not null)
        {
            try
            {
                if (!prometheus.HasExited) prometheus.Kill(entireProcessTree: true);
                prometheus.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            prometheus.Dispose();
        }
        silo?.Dispose();
        if (client is not null)
        {
            try { client.StopAsync().Wait(TimeSpan.FromSeconds(5)); }
            catch (AggregateException) { }
            client.Dispose();
        }
        http.Dispose();
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
