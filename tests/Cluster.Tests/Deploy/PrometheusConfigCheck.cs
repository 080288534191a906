namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>Prometheus configurations: deploy/prometheus/prometheus.yml (silos on this machine) and the one compose mounts.</summary>
internal static class PrometheusConfigCheck
{
    public const string File = "deploy/prometheus/prometheus.yml";

    /// <summary>The bare-metal file scrapes the silos on 127.0.0.1, the first at the default MetricsPort.</summary>
    public static void Run(DeployCheck check)
    {
        var targets = Targets(check, check.PathOf(File)).ToList();
        if (targets.Count == 0) return;
        var metricsPort = SiloSettings.Default("MetricsPort");
        if (targets[0] != $"127.0.0.1:{metricsPort}") check.Problem(File, $"the first target is {targets[0]}, not the default silo's 127.0.0.1:{metricsPort}");
        foreach (var target in targets)
            if (!target.StartsWith("127.0.0.1:", StringComparison.Ordinal) || !int.TryParse(target["127.0.0.1:".Length..], out _))
                check.Problem(File, $"target {target} is not 127.0.0.1:PORT (the metrics endpoint binds loopback by default)");
    }

    /// <summary>Every static target of a Prometheus configuration whose scrape jobs read /metrics; problems recorded.</summary>
    public static IEnumerable<string> Targets(DeployCheck check, string path)
    {
        if (check.ReadYaml(path) is not [Dictionary<string, object?> config]) return [];
        var jobs = config.List("scrape_configs").Maps().ToList();
        if (jobs.Count == 0) check.Problem(path, "no scrape_configs");
        var targets = new List<string>();
        foreach (var job in jobs)
        {
            var name = job.Text("job_name");
            if (string.IsNullOrEmpty(name)) check.Problem(path, "a scrape job without job_name");
            if ((job.Text("metrics_path") ?? "/metrics") != "/metrics") check.Problem(path, $"job {name}: metrics_path {job.Text("metrics_path")} is not the silo's /metrics");
            foreach (var group in job.List("static_configs").Maps())
                targets.AddRange(group.List("targets").OfType<string>());
        }
        if (targets.Count == 0) check.Problem(path, "no targets");
        return targets;
    }
}
