using System.Text.RegularExpressions;
using GrowLength.Tests.Shared;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>The committed deploy files (Dockerfile, compose, Kubernetes, Prometheus, Grafana) agree with the silo's settings,
/// with each other and with the metrics the silo exports; and the checker that says so catches each kind of mistake.</summary>
public sealed class DeployFilesTests
{
    [Fact]
    public void EveryDeployFileAgreesWithTheSiloAndWithEachOther()
    {
        var problems = DeployCheck.Run(SiloProcess.RepoRoot());
        Assert.True(problems.Count == 0, $"{problems.Count} problems in the deploy files:\n  {string.Join("\n  ", problems)}");
    }

    /// <summary>One mistake each, in a copy of the repository's deploy files: the problem the checker must report.</summary>
    public static TheoryData<string, string, string, string> Mistakes => new()
    {
        // A setting name, an int and a bool that do not parse.
        { "deploy/compose/compose.yaml", "GROWLENGTH__GATEWAYPORT: \"30000\"", "GROWLENGTH__GATEWAYPROT: \"30000\"", "'GATEWAYPROT' is not a setting" },
        { "deploy/compose/compose.yaml", "GROWLENGTH__SILOPORT: \"11111\"", "GROWLENGTH__SILOPORT: \"eleven\"", "SILOPORT='eleven' is not an integer" },
        { "deploy/compose/compose.yaml", "GROWLENGTH__LISTENONALLINTERFACES: \"true\"", "GROWLENGTH__LISTENONALLINTERFACES: \"yes\"", "is not true or false" },
        { "deploy/docker/Dockerfile", "GROWLENGTH__CHECKPOINTFOLDER=", "GROWLENGTH__CHECKPOINTDIR=", "'CHECKPOINTDIR' is not a setting" },
        { "deploy/k8s/configmap.yaml", "GROWLENGTH__DEVICESLOTS:", "GROWLENGTH__DEVICESLOT:", "'DEVICESLOT' is not a setting" },
        // Ports that disagree between files.
        { "deploy/compose/compose.yaml", "GROWLENGTH__METRICSPORT: \"9464\"", "GROWLENGTH__METRICSPORT: \"9465\"", "silo1's MetricsPort is 9465" },
        { "deploy/compose/prometheus.yml", "\"silo2:9464\"", "\"silo2:9465\"", "target silo2:9465" },
        { "deploy/compose/compose.yaml", "\"127.0.0.1:30001:30000\"", "\"127.0.0.1:30001:30002\"", "publishes container port 30002" },
        { "deploy/compose/compose.yaml", "/dev/tcp/127.0.0.1/30000", "/dev/tcp/127.0.0.1/30005", "health check connects to port 30005" },
        { "deploy/docker/Dockerfile", "EXPOSE 11111 30000 9464", "EXPOSE 11111 30000 9465", "MetricsPort is 9464, which it does not EXPOSE" },
        { "deploy/k8s/statefulset.yaml", "prometheus.io/port: \"9464\"", "prometheus.io/port: \"9465\"", "prometheus.io/port is 9465" },
        { "deploy/k8s/statefulset.yaml", "containerPort: 30000", "containerPort: 30001", "GatewayPort is 30000, which is not a containerPort" },
        { "deploy/k8s/service.yaml", "targetPort: gateway", "targetPort: gateways", "targets gateways" },
        // Exposure: a port published beyond loopback, a metrics endpoint Prometheus cannot reach.
        { "deploy/compose/compose.yaml", "\"127.0.0.1:30001:30000\"", "\"30001:30000\"", "is not published on 127.0.0.1 only" },
        { "deploy/k8s/statefulset.yaml", "- name: GROWLENGTH__METRICSHOST", "- name: GROWLENGTH_METRICS_ADDRESS", "MetricsHost is not the pod's IP" },
        { "deploy/compose/compose.yaml", "GROWLENGTH__METRICSHOST: silo2", "GROWLENGTH__METRICSHOST: 127.0.0.1", "MetricsHost 127.0.0.1 is not silo2" },
        { "deploy/compose/compose.yaml", "GROWLENGTH_TLS_CERT:", "GROWLENGTH__TLSCERTIFICATE:", "GROWLENGTH__TLSCERTIFICATE is a silo setting" },
        // A wildcard the metrics exporter refuses at start.
        { "deploy/compose/compose.yaml", "GROWLENGTH__METRICSHOST: silo1", "GROWLENGTH__METRICSHOST: 0.0.0.0", "'0.0.0.0' cannot be listened on" },
        // Files, projects, secrets and volumes that are not there.
        { "deploy/compose/compose.yaml", "./grafana/datasources.yml", "./grafana/datasource.yml", "mounts ./grafana/datasource.yml, which does not exist" },
        { "deploy/docker/Dockerfile", "dotnet publish src/Silo/Silo.csproj", "dotnet publish src/Silos/Silo.csproj", "src/Silos/Silo.csproj, which does not exist" },
        { "deploy/docker/Dockerfile", "\"/app/GrowLength.Silo\"", "\"/app/GrowLength.Silos\"", "runs /app/GrowLength.Silos" },
        { ".dockerignore", "!deploy/docker/", "", "which .dockerignore leaves out of the build context" },
        { "deploy/k8s/statefulset.yaml", "name: growlength-postgres", "name: growlength-pg", "reads Secret growlength-pg, which is not defined" },
        { "deploy/k8s/statefulset.yaml", "key: silo.key", "key: silo.pem", "reads key silo.pem" },
        { "deploy/k8s/checkpoints-pvc.yaml", "- ReadWriteMany", "- ReadWriteOnce", "must be ReadWriteMany" },
        { "deploy/compose/compose.yaml", "- silo2-corpus:/data/corpus", "- silo3-corpus:/data/corpus", "volume silo3-corpus is not defined" },
        { "deploy/compose/compose.yaml", "- checkpoints:/data/checkpoints\n      - silo2-corpus", "- silo2-checkpoints:/data/checkpoints\n      - silo2-corpus", "the silos mount different checkpoint volumes" },
        { "deploy/compose/compose.yaml", "--hosts silo1,silo2,localhost", "--hosts silo1,localhost", "advertises silo2, which the certificates do not name" },
        // The dashboard: a uid written in, a metric the silo does not export, an XY chart whose series do not join.
        { "deploy/grafana/dashboards/growlength.json", "\"uid\": \"${datasource}\"", "\"uid\": \"growlength-prometheus\"", "data source uid 'growlength-prometheus' is written in" },
        { "deploy/grafana/dashboards/growlength.json", "growlength_mfu{", "growlength_mfu_ratio{", "'growlength_mfu_ratio' is not a metric the silo exports" },
        { "deploy/grafana/dashboards/growlength.json", "\"id\": \"merge\"", "\"id\": \"organize\"", "no merge or joinByField transformation" },
        { "deploy/grafana/dashboards/growlength.json", "\"pluginVersion\": \"12.0.0\",", "", "without pluginVersion" },
        { "deploy/grafana/dashboards/growlength.json", "\"name\": \"datasource\"", "\"name\": \"source\"", "no dashboard variable 'datasource'" },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void TheCheckerCatchesAMistakeInACopy(string file, string find, string replace, string expected)
    {
        var root = Path.Combine(Path.GetTempPath(), $"growlength-deploy-{Guid.NewGuid():N}");
        try
        {
            CopyRepository(SiloProcess.RepoRoot(), root);
            // The copy passes before the mistake: the problem reported below is the mistake's.
            Assert.Empty(DeployCheck.Run(root));
            var path = Path.Combine(root, file);
            var text = File.ReadAllText(path);
            var at = text.IndexOf(find, StringComparison.Ordinal);
            Assert.True(at >= 0, $"{file} no longer contains '{find}': update this case");
            File.WriteAllText(path, string.Concat(text.AsSpan(0, at), replace, text.AsSpan(at + find.Length)));

            var problems = DeployCheck.Run(root);
            Assert.True(problems.Any(p => p.Contains(expected, StringComparison.Ordinal)),
                $"expected a problem containing '{expected}', got:\n  {string.Join("\n  ", problems)}");
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [Fact]
    public void EveryMetricDeployReadmeNamesIsExported()
    {
        var readme = File.ReadAllText(Path.Combine(SiloProcess.RepoRoot(), "deploy", "README.md"));
        var named = Regex.Matches(readme, @"\bgrowlength_[a-z_]+").Select(m => m.Value).Distinct().ToList();
        Assert.NotEmpty(named);
        // A histogram is named by its base (growlength_step_duration_seconds); Prometheus has its _count series.
        var missing = named.Where(n => !ExportedMetrics.GrowLength.Contains(n) && !ExportedMetrics.GrowLength.Contains(n + "_count")).ToList();
        Assert.True(missing.Count == 0, $"deploy/README.md names metrics the silo does not export: {string.Join(", ", missing)}");
        // And the other way round: every exported GrowLength metric is documented.
        var undocumented = ExportedMetrics.GrowLength
            .Select(n => Regex.Replace(n, "_(bucket|sum|count)$", ""))
            .Distinct()
            .Where(n => !named.Contains(n))
            .ToList();
        Assert.True(undocumented.Count == 0, $"deploy/README.md does not name: {string.Join(", ", undocumented)}");
    }

    [Theory]
    [InlineData("growlength_tokens_total", true)]
    [InlineData("growlength_step_duration_seconds_bucket", true)]
    [InlineData("growlength_loss", true)]
    [InlineData("growlength_workers_active", true)]
    [InlineData("growlength_tokens", false)]
    [InlineData("growlength_loss_total", false)]
    [InlineData("orleans_grains", true)]
    [InlineData("orleans_messaging_sent_messages_size_bytes_count", true)]
    [InlineData("orleans_no_such_instrument", false)]
    [InlineData("process_cpu_seconds_total", false)]
    public void ExportedNamesFollowThePrometheusExporter(string name, bool exported) =>
        Assert.Equal(exported, ExportedMetrics.Problem(name) is null);

    [Fact]
    public void SettingsAreMatchedAsConfigurationBindsThem()
    {
        Assert.Null(SiloSettings.Problem("GATEWAYPORT", "30000"));
        Assert.Null(SiloSettings.Problem("metricsHost", "silo1"));
        Assert.NotNull(SiloSettings.Problem("MetricsHost", "0.0.0.0"));
        Assert.NotNull(SiloSettings.Problem("GatewayPort", "70000"));
        Assert.NotNull(SiloSettings.Problem("UsesPostgres", "true"));
        Assert.Null(SiloSettings.Problem("TlsCertificate", "/certs/silo.crt"));
    }

    // What the checker reads: the deploy files, the build files the Dockerfile copies, the projects it publishes.
    private static void CopyRepository(string from, string to)
    {
        foreach (var folder in new[] { "deploy", "build", "src" }) CopyFolder(Path.Combine(from, folder), Path.Combine(to, folder));
        foreach (var file in new[] { ".dockerignore", "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
            File.Copy(Path.Combine(from, file), Path.Combine(to, file));
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var folder in Directory.GetDirectories(from))
            if (Path.GetFileName(folder) is not ("bin" or "obj")) CopyFolder(folder, Path.Combine(to, Path.GetFileName(folder)));
    }
}
