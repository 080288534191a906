using System.Data.Common;
using System.Text.RegularExpressions;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>deploy/compose/compose.yaml with the files it mounts: settings, ports (published on 127.0.0.1 only, and the same
/// in the silos' settings, the image's EXPOSE, the health checks and Prometheus' targets), files and folders it mounts,
/// secrets and volumes it names, the build it asks for, and the certificates the one-shot certs service writes.</summary>
internal static partial class ComposeCheck
{
    public const string File = "deploy/compose/compose.yaml";

    public static void Run(DeployCheck check, Dockerfile? docker)
    {
        var path = check.PathOf(File);
        if (check.ReadYaml(path) is not [Dictionary<string, object?> compose]) return;
        var folder = Path.GetDirectoryName(path)!;
        var services = compose.Map("services").ToDictionary(s => s.Key, s => s.Value as Dictionary<string, object?> ?? []);
        var secrets = compose.Map("secrets");
        var volumes = compose.Map("volumes");
        foreach (var (name, secret) in secrets)
            if ((secret as Dictionary<string, object?>)?.Text("file") is { } file && !System.IO.File.Exists(Path.Combine(folder, file)))
                check.Problem(File, $"secret {name}: file {file} does not exist");

        var silos = new Dictionary<string, SiloEndpoints>();
        foreach (var (name, service) in services)
        {
            var where = $"service {name}";
            Build(check, folder, where, service, docker);
            foreach (var (variable, value) in Environment(service))
                if (SiloSettings.FromEnvironmentName(variable) is { } setting) check.Setting(File, $"{where}: {variable}", setting, value);
            foreach (var (key, value) in SiloSettings.FromArguments(Words(service, "command") + " " + Words(service, "entrypoint")))
                check.Setting(File, where, key, value);
            foreach (var port in service.List("ports"))
                if (HostIp(port) is not "127.0.0.1") check.Problem(File, $"{where}: port {Describe(port)} is not published on 127.0.0.1 only");
            foreach (var (source, _, bind) in Mounts(service))
            {
                if (bind && !System.IO.File.Exists(Path.Combine(folder, source)) && !Directory.Exists(Path.Combine(folder, source)))
                    check.Problem(File, $"{where}: mounts {source}, which does not exist");
                if (!bind && !volumes.ContainsKey(source)) check.Problem(File, $"{where}: volume {source} is not defined under volumes");
            }
            foreach (var secret in service.List("secrets"))
                if ((secret as string ?? (secret as Dictionary<string, object?>)?.Text("source")) is { } s && !secrets.ContainsKey(s))
                    check.Problem(File, $"{where}: secret {s} is not defined under secrets");
            foreach (var dependency in DependsOn(service))
                if (!services.ContainsKey(dependency)) check.Problem(File, $"{where}: depends on {dependency}, which is not a service");
            if (IsSilo(service, services)) silos[name] = Silo(check, name, service, docker);
            else if (Environment(service).FirstOrDefault(e => e.Variable.StartsWith("GROWLENGTH__TLS", StringComparison.Ordinal)).Variable is { } silosOnly)
                // The growlength program reads its own certificate from GROWLENGTH_TLS_CERT/_KEY/_CA (--tls-cert ...): the
                // silo settings would leave its connection in plain text, which a TLS gateway refuses.
                check.Problem(File, $"{where}: {silosOnly} is a silo setting; the program's TLS files are GROWLENGTH_TLS_CERT, GROWLENGTH_TLS_KEY and GROWLENGTH_TLS_CA");
        }
        if (silos.Count == 0)
        {
            check.Problem(File, "no silo service (one built with target silo)");
            return;
        }
        SharedCheckpoints(check, services, silos);
        Postgres(check, services, silos);
        Certificates(check, services, silos);
        Prometheus(check, folder, services, silos);
        GrafanaCheck.Compose(check, folder, services);
    }

    /// <summary>A service's environment as (variable, value), from the mapping or the list form.</summary>
    public static IEnumerable<(string Variable, string? Value)> Environment(Dictionary<string, object?> service) =>
        service.GetValueOrDefault("environment") switch
        {
            Dictionary<string, object?> map => map.Select(e => (e.Key, e.Value as string)),
            List<object?> list => list.OfType<string>().Select(e => e.Split('=', 2)).Select(p => (p[0], p.Length > 1 ? p[1] : null)),
            _ => [],
        };

    /// <summary>A service's mounts as (source, target, is a bind of a file or folder), short or long syntax.</summary>
    public static IEnumerable<(string Source, string Target, bool Bind)> Mounts(Dictionary<string, object?> service)
    {
        foreach (var volume in service.List("volumes"))
        {
            if (volume is string text)
            {
                var parts = text.Split(':');
                if (parts.Length < 2) continue;
                yield return (parts[0], parts[1], parts[0].StartsWith('.') || parts[0].StartsWith('/'));
            }
            else if (volume is Dictionary<string, object?> map && map.Text("source") is { } source && map.Text("target") is { } target)
            {
                yield return (source, target, map.Text("type") == "bind");
            }
        }
    }

    /// <summary>The container port of a published port, short ("127.0.0.1:30000:30000") or long syntax.</summary>
    public static int? ContainerPort(object? port) => port switch
    {
        string text => int.TryParse(text.Split(':')[^1].Split('/')[0], out var p) ? p : null,
        Dictionary<string, object?> map => int.TryParse(map.Text("target"), out var p) ? p : null,
        _ => null,
    };

    private static string? HostIp(object? port) => port switch
    {
        string text when text.Split(':') is { Length: 3 } parts => parts[0],
        Dictionary<string, object?> map => map.Text("host_ip"),
        _ => null,
    };

    private static string Describe(object? port) => port as string ?? string.Join(", ", (port as Dictionary<string, object?> ?? []).Select(p => $"{p.Key}={p.Value}"));

    private static string Words(Dictionary<string, object?> service, string key) => service.GetValueOrDefault(key) switch
    {
        string text => text,
        List<object?> list => string.Join(" ", list.OfType<string>()),
        _ => "",
    };

    private static IEnumerable<string> DependsOn(Dictionary<string, object?> service) => service.GetValueOrDefault("depends_on") switch
    {
        List<object?> list => list.OfType<string>(),
        Dictionary<string, object?> map => map.Keys,
        _ => [],
    };

    private static bool IsSilo(Dictionary<string, object?> service, Dictionary<string, Dictionary<string, object?>> services)
    {
        if (service.Map("build").Text("target") == "silo") return true;
        var image = service.Text("image");
        return image is not null && services.Values.Any(s => s.Text("image") == image && s.Map("build").Text("target") == "silo");
    }

    private static void Build(DeployCheck check, string folder, string where, Dictionary<string, object?> service, Dockerfile? docker)
    {
        var build = service.Map("build");
        if (build.Count == 0) return;
        var context = Path.GetFullPath(Path.Combine(folder, build.Text("context") ?? "."));
        var dockerfile = Path.GetFullPath(Path.Combine(context, build.Text("dockerfile") ?? "Dockerfile"));
        if (!Directory.Exists(context)) check.Problem(File, $"{where}: build context {build.Text("context")} does not exist");
        if (!System.IO.File.Exists(dockerfile))
        {
            check.Problem(File, $"{where}: Dockerfile {build.Text("dockerfile")} does not exist under the build context");
            return;
        }
        if (Path.GetFullPath(check.PathOf(DockerfileCheck.File)) != dockerfile) return;
        if (Path.GetFullPath(check.Root).TrimEnd(Path.DirectorySeparatorChar) != context.TrimEnd(Path.DirectorySeparatorChar))
            check.Problem(File, $"{where}: {DockerfileCheck.File} is built from the repository root, not {build.Text("context")}");
        if (build.Text("target") is { } target && docker is not null && docker.Named(target) is null)
            check.Problem(File, $"{where}: build target {target} is not a stage of {DockerfileCheck.File}");
    }

    // A silo's settings: its defaults, the image's ENV, the service's environment; then its ports against the rest of the file.
    private static SiloEndpoints Silo(DeployCheck check, string name, Dictionary<string, object?> service, Dockerfile? docker)
    {
        var where = $"service {name}";
        var endpoints = new SiloEndpoints();
        var stage = docker?.Named("silo");
        if (docker is not null && stage is not null)
            foreach (var (setting, value) in DockerfileCheck.Settings(docker, stage)) endpoints.Set(setting, value);
        foreach (var (variable, value) in Environment(service))
            if (SiloSettings.FromEnvironmentName(variable) is { } setting) endpoints.Set(setting, value);
        var ports = endpoints.Ports.ToHashSet();
        foreach (var port in service.List("ports"))
            if (ContainerPort(port) is int p && !ports.Contains(p))
                check.Problem(File, $"{where}: publishes container port {p}, which the silo does not listen on ({string.Join(", ", ports.Order())})");
        if (docker is not null && stage is not null)
        {
            var exposed = DockerfileCheck.Exposed(docker, stage);
            foreach (var (setting, port) in new[] { ("SiloPort", endpoints.SiloPort), ("GatewayPort", endpoints.GatewayPort), ("MetricsPort", endpoints.MetricsPort) })
                if (port is int p && !exposed.Contains(p))
                    check.Problem(File, $"{where}: {setting} is {p}, which the silo image does not EXPOSE ({string.Join(", ", exposed.Order())})");
        }
        foreach (Match m in TcpCheck().Matches(Words(service.Map("healthcheck"), "test")))
            if (!ports.Contains(int.Parse(m.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture)))
                check.Problem(File, $"{where}: the health check connects to port {m.Groups["port"].Value}, which the silo does not listen on ({string.Join(", ", ports.Order())})");
        var advertised = endpoints["AdvertisedAddress"];
        if (string.IsNullOrEmpty(advertised)) check.Problem(File, $"{where}: no GROWLENGTH__ADVERTISEDADDRESS: its peers would be told 127.0.0.1");
        else if (advertised != name && advertised != service.Text("hostname"))
            check.Problem(File, $"{where}: AdvertisedAddress {advertised} is neither the service's name nor its hostname");
        var targets = Mounts(service).Select(m => m.Target).ToList();
        foreach (var (setting, file) in endpoints.Files)
            if (!targets.Any(t => file.StartsWith(t.TrimEnd('/') + "/", StringComparison.Ordinal)))
                check.Problem(File, $"{where}: {setting} {file} is not under any of its mounts ({string.Join(", ", targets)})");
        return endpoints;
    }

    // Every silo must see the same checkpoints at the same path: one named volume mounted at CheckpointFolder in each.
    private static void SharedCheckpoints(DeployCheck check, Dictionary<string, Dictionary<string, object?>> services, Dictionary<string, SiloEndpoints> silos)
    {
        var volumes = new HashSet<string>();
        foreach (var (name, endpoints) in silos)
        {
            var folder = endpoints["CheckpointFolder"];
            var mount = Mounts(services[name]).FirstOrDefault(m => m.Target.TrimEnd('/') == folder?.TrimEnd('/'));
            if (mount.Source is null) check.Problem(File, $"service {name}: nothing is mounted at its CheckpointFolder {folder}: checkpoints would not be shared");
            else volumes.Add(mount.Source);
        }
        if (volumes.Count > 1) check.Problem(File, $"the silos mount different checkpoint volumes ({string.Join(", ", volumes)}): a run's checkpoints must be shared");
    }

    private static void Postgres(DeployCheck check, Dictionary<string, Dictionary<string, object?>> services, Dictionary<string, SiloEndpoints> silos)
    {
        foreach (var (name, endpoints) in silos)
        {
            if (endpoints["Clustering"] != "postgres") continue;
            var where = $"service {name}";
            var connection = new DbConnectionStringBuilder();
            try
            {
                connection.ConnectionString = endpoints["PostgresConnection"] ?? "";
            }
            catch (ArgumentException e)
            {
                check.Problem(File, $"{where}: PostgresConnection is not a connection string: {e.Message}");
                continue;
            }
            if (!connection.TryGetValue("Host", out var host) || !services.ContainsKey(host?.ToString() ?? ""))
                check.Problem(File, $"{where}: PostgresConnection's Host {host} is not a service");
            if (connection.ContainsKey("Password")) check.Problem(File, $"{where}: PostgresConnection holds the password in plain YAML: give it as a secret (GROWLENGTH_POSTGRES_PASSWORD_FILE)");
            var passwordFile = Environment(services[name]).FirstOrDefault(e => e.Variable == "GROWLENGTH_POSTGRES_PASSWORD_FILE").Value;
            if (passwordFile is not null)
            {
                var secret = passwordFile.StartsWith("/run/secrets/", StringComparison.Ordinal) ? passwordFile["/run/secrets/".Length..] : null;
                if (secret is null || !services[name].List("secrets").Contains(secret))
                    check.Problem(File, $"{where}: GROWLENGTH_POSTGRES_PASSWORD_FILE {passwordFile} is not one of its secrets (/run/secrets/NAME)");
            }
        }
    }

    // The certs service must write the files the silos read, into the volume they mount, for the names they advertise.
    private static void Certificates(DeployCheck check, Dictionary<string, Dictionary<string, object?>> services, Dictionary<string, SiloEndpoints> silos)
    {
        var certs = services.FirstOrDefault(s => Words(s.Value, "command").Contains("growlength certs", StringComparison.Ordinal));
        if (certs.Key is null)
        {
            if (silos.Values.Any(s => s.Files.Any())) check.Problem(File, "the silos read TLS files but no service runs `growlength certs`");
            return;
        }
        var command = Words(certs.Value, "command");
        var output = CertsOut().Match(command).Groups["out"].Value.TrimEnd('/');
        var hosts = CertsHosts().Match(command).Groups["hosts"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var volume = Mounts(certs.Value).FirstOrDefault(m => m.Target.TrimEnd('/') == output).Source;
        if (volume is null) check.Problem(File, $"service {certs.Key}: writes the certificates to {output}, where nothing is mounted");
        foreach (var (name, endpoints) in silos)
        {
            if (!endpoints.Files.Any()) continue;
            if (!DependsOn(services[name]).Contains(certs.Key)) check.Problem(File, $"service {name}: reads TLS files but does not depend on {certs.Key}");
            foreach (var (setting, file) in endpoints.Files)
            {
                var folder = file[..file.LastIndexOf('/')];
                var mount = Mounts(services[name]).FirstOrDefault(m => m.Target.TrimEnd('/') == folder);
                if (mount.Source != volume) check.Problem(File, $"service {name}: {setting} {file} is not in the volume {certs.Key} writes ({volume})");
                if (!CertsFiles.Contains(file[(file.LastIndexOf('/') + 1)..])) check.Problem(File, $"service {name}: {setting} {file} is not a file `growlength certs` writes");
            }
            if (endpoints["AdvertisedAddress"] is { Length: > 0 } advertised && !hosts.Contains(advertised))
                check.Problem(File, $"service {name}: advertises {advertised}, which the certificates do not name (--hosts {string.Join(",", hosts)})");
        }
    }

    private static readonly string[] CertsFiles = ["ca.crt", "ca.key", "silo.crt", "silo.key", "client.crt", "client.key"];

    // Prometheus' targets are exactly the silos' metrics endpoints, reachable from another container.
    private static void Prometheus(DeployCheck check, string folder, Dictionary<string, Dictionary<string, object?>> services, Dictionary<string, SiloEndpoints> silos)
    {
        var prometheus = services.FirstOrDefault(s => s.Value.Text("image")?.Contains("prometheus", StringComparison.Ordinal) == true);
        if (prometheus.Key is null)
        {
            check.Problem(File, "no Prometheus service");
            return;
        }
        var config = Mounts(prometheus.Value).FirstOrDefault(m => m.Target == "/etc/prometheus/prometheus.yml");
        if (config.Source is null)
        {
            check.Problem(File, $"service {prometheus.Key}: no configuration mounted at /etc/prometheus/prometheus.yml");
            return;
        }
        foreach (var port in prometheus.Value.List("ports"))
            if (ContainerPort(port) is int p && p != 9090) check.Problem(File, $"service {prometheus.Key}: publishes container port {p}; Prometheus listens on 9090");
        var configPath = Path.GetFullPath(Path.Combine(folder, config.Source));
        var targets = PrometheusConfigCheck.Targets(check, configPath).ToList();
        var scraped = new HashSet<string>();
        foreach (var target in targets)
        {
            var colon = target.LastIndexOf(':');
            var host = colon < 0 ? target : target[..colon];
            if (!silos.TryGetValue(host, out var silo))
            {
                check.Problem(configPath, $"target {target}: {host} is not a silo service of {File}");
                continue;
            }
            scraped.Add(host);
            if (colon < 0 || target[(colon + 1)..] != silo.MetricsPort?.ToString(System.Globalization.CultureInfo.InvariantCulture))
                check.Problem(configPath, $"target {target}: {host}'s MetricsPort is {silo.MetricsPort}");
            // The exporter answers only requests that name its MetricsHost, and a scrape of host:port names host.
            if (silo["MetricsHost"] != host)
                check.Problem(File, $"service {host}: MetricsHost {silo["MetricsHost"] ?? "(default 127.0.0.1)"} is not {host}, the name Prometheus scrapes it at");
        }
        foreach (var name in silos.Keys.Where(n => !scraped.Contains(n)))
            check.Problem(configPath, $"silo service {name} is not scraped");
    }

    [GeneratedRegex(@"/dev/tcp/[^/\s]+/(?<port>\d+)")]
    private static partial Regex TcpCheck();

    [GeneratedRegex(@"--out\s+(?<out>\S+)")]
    private static partial Regex CertsOut();

    [GeneratedRegex(@"--hosts\s+(?<hosts>[^\s;]+)")]
    private static partial Regex CertsHosts();
}
