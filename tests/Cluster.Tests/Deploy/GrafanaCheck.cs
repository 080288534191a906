namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>Grafana's provisioning (deploy/grafana/provisioning, and compose's data source) and the dashboards.</summary>
internal static class GrafanaCheck
{
    public const string Provisioning = "deploy/grafana/provisioning";
    public const string Dashboards = "deploy/grafana/dashboards";

    public static void Run(DeployCheck check)
    {
        foreach (var file in Files(check, $"{Provisioning}/datasources")) DataSources(check, file);
        foreach (var file in Files(check, $"{Provisioning}/dashboards")) Providers(check, file);
        var dashboards = Directory.Exists(check.PathOf(Dashboards)) ? Directory.GetFiles(check.PathOf(Dashboards), "*.json") : [];
        if (dashboards.Length == 0) check.Problem(Dashboards, "no dashboard");
        foreach (var dashboard in dashboards) DashboardCheck.Run(check, dashboard);
    }

    /// <summary>Grafana in compose: its data source reaches a service, and its dashboard provider's folder is where the
    /// dashboards are mounted.</summary>
    public static void Compose(DeployCheck check, string folder, Dictionary<string, Dictionary<string, object?>> services)
    {
        var grafana = services.FirstOrDefault(s => s.Value.Text("image")?.Contains("grafana", StringComparison.Ordinal) == true);
        if (grafana.Key is null)
        {
            check.Problem(ComposeCheck.File, "no Grafana service");
            return;
        }
        var mounts = ComposeCheck.Mounts(grafana.Value).Where(m => m.Bind).Select(m => (Source: Path.GetFullPath(Path.Combine(folder, m.Source)), m.Target)).ToList();
        var sources = mounts.Where(m => m.Target.StartsWith("/etc/grafana/provisioning/datasources/", StringComparison.Ordinal)).ToList();
        var providers = mounts.Where(m => m.Target.StartsWith("/etc/grafana/provisioning/dashboards/", StringComparison.Ordinal)).ToList();
        if (sources.Count == 0) check.Problem(ComposeCheck.File, $"service {grafana.Key}: no data source provisioned");
        if (providers.Count == 0) check.Problem(ComposeCheck.File, $"service {grafana.Key}: no dashboard provider provisioned");
        foreach (var (source, _) in sources.Where(s => System.IO.File.Exists(s.Source)))
            foreach (var url in DataSources(check, source))
            {
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)) continue;
                if (!services.TryGetValue(uri.Host, out var target)) check.Problem(source, $"url {url}: {uri.Host} is not a service of {ComposeCheck.File}");
                else if (target.Text("image")?.Contains("prometheus", StringComparison.Ordinal) == true && uri.Port != 9090)
                    check.Problem(source, $"url {url}: Prometheus listens on 9090");
            }
        foreach (var (source, _) in providers.Where(p => System.IO.File.Exists(p.Source)))
            foreach (var path in Providers(check, source))
            {
                var mount = mounts.FirstOrDefault(m => m.Target.TrimEnd('/') == path.TrimEnd('/'));
                if (mount.Source is null) check.Problem(ComposeCheck.File, $"service {grafana.Key}: the dashboard provider reads {path}, where nothing is mounted");
                else if (!Directory.Exists(mount.Source) || Directory.GetFiles(mount.Source, "*.json").Length == 0)
                    check.Problem(ComposeCheck.File, $"service {grafana.Key}: {check.Relative(mount.Source)}, mounted at {path}, holds no dashboard");
            }
    }

    private static IEnumerable<string> Files(DeployCheck check, string relative)
    {
        var folder = check.PathOf(relative);
        var files = Directory.Exists(folder) ? Directory.GetFiles(folder, "*.y*ml") : [];
        if (files.Length == 0) check.Problem(relative, "no provisioning file");
        return files;
    }

    // A data-source provisioning file: apiVersion 1, a Prometheus data source with a URL; returns the URLs.
    private static List<string> DataSources(DeployCheck check, string file)
    {
        var urls = new List<string>();
        if (check.ReadYaml(file) is not [Dictionary<string, object?> config]) return urls;
        if (config.Text("apiVersion") != "1") check.Problem(file, "apiVersion is not 1");
        var sources = config.List("datasources").Maps().ToList();
        if (!sources.Any(s => s.Text("type") == "prometheus")) check.Problem(file, "no data source of type prometheus");
        foreach (var source in sources)
        {
            if (source.Text("url") is not { } url || !Uri.TryCreate(url, UriKind.Absolute, out _)) check.Problem(file, $"data source {source.Text("name")}: no absolute url");
            else urls.Add(url);
        }
        return urls;
    }

    // A dashboard provider file: apiVersion 1, file providers with a path; returns the paths.
    private static List<string> Providers(DeployCheck check, string file)
    {
        var paths = new List<string>();
        if (check.ReadYaml(file) is not [Dictionary<string, object?> config]) return paths;
        if (config.Text("apiVersion") != "1") check.Problem(file, "apiVersion is not 1");
        var providers = config.List("providers").Maps().ToList();
        if (providers.Count == 0) check.Problem(file, "no providers");
        foreach (var provider in providers)
        {
            if (provider.Text("type") is not (null or "file")) check.Problem(file, $"provider {provider.Text("name")} is not of type file");
            if (provider.Map("options").Text("path") is { Length: > 0 } path) paths.Add(path);
            else check.Problem(file, $"provider {provider.Text("name")}: no options.path");
        }
        return paths;
    }
}
