namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>deploy/k8s: the silo workloads' settings (ConfigMap and env), ports (settings, container ports, Service ports,
/// probes, Prometheus scrape annotations, the image's EXPOSE), the Secrets, ConfigMaps, claims and Services they name,
/// the checkpoint volume's access mode, and kustomization.yaml's resources.</summary>
internal static class KubernetesCheck
{
    public const string Folder = "deploy/k8s";

    private sealed record Resource(string File, string Kind, string Name, string? Namespace, Dictionary<string, object?> Body);

    public static void Run(DeployCheck check, Dockerfile? docker)
    {
        var folder = check.PathOf(Folder);
        var files = Directory.Exists(folder) ? Directory.GetFiles(folder, "*.yaml").Order(StringComparer.Ordinal).ToArray() : [];
        if (files.Length == 0)
        {
            check.Problem(Folder, "no manifests");
            return;
        }
        var resources = new List<Resource>();
        foreach (var file in files)
            foreach (var document in check.ReadYaml(file) ?? [])
                if (document is Dictionary<string, object?> body)
                {
                    var kind = body.Text("kind");
                    var name = body.Map("metadata").Text("name");
                    if (kind is null || (name is null && kind != "Kustomization")) check.Problem(file, "a document without kind or metadata.name");
                    else resources.Add(new Resource(file, kind, name ?? "", body.Map("metadata").Text("namespace"), body));
                }
        Kustomization(check, folder, resources);
        var namespaces = resources.Where(r => r.Kind is not ("Namespace" or "Kustomization")).Select(r => r.Namespace ?? "(none)").Distinct().ToList();
        if (namespaces.Count > 1) check.Problem(Folder, $"resources in several namespaces: {string.Join(", ", namespaces)}");
        var workloads = resources.Where(r => r.Kind is "StatefulSet" or "Deployment").ToList();
        if (!workloads.Any(w => w.Kind == "StatefulSet")) check.Problem(Folder, "no silo StatefulSet");
        foreach (var workload in workloads) Workload(check, workload, resources, docker);
        foreach (var service in resources.Where(r => r.Kind == "Service")) Service(check, service, workloads);
    }

    private static Dictionary<string, List<string>> SecretKeys(List<Resource> resources) =>
        resources.Where(r => r.Kind == "Secret").ToDictionary(
            r => r.Name,
            r => r.Body.Map("data").Keys.Concat(r.Body.Map("stringData").Keys).ToList());

    private static void Kustomization(DeployCheck check, string folder, List<Resource> resources)
    {
        foreach (var kustomization in resources.Where(r => r.Kind == "Kustomization"))
            foreach (var resource in kustomization.Body.List("resources").OfType<string>())
                if (!File.Exists(Path.Combine(folder, resource)) && !Directory.Exists(Path.Combine(folder, resource)))
                    check.Problem(kustomization.File, $"resource {resource} does not exist");
    }

    private static void Workload(DeployCheck check, Resource workload, List<Resource> resources, Dockerfile? docker)
    {
        var file = workload.File;
        var where = $"{workload.Kind} {workload.Name}";
        var spec = workload.Body.Map("spec");
        var template = spec.Map("template");
        var labels = template.Map("metadata").Map("labels");
        foreach (var (key, value) in spec.Map("selector").Map("matchLabels"))
            if (labels.Text(key) != value as string) check.Problem(file, $"{where}: selector {key}={value} does not match the pod's labels");
        if (workload.Kind == "StatefulSet")
        {
            var governing = resources.FirstOrDefault(r => r.Kind == "Service" && r.Name == spec.Text("serviceName"));
            if (governing is null) check.Problem(file, $"{where}: serviceName {spec.Text("serviceName")} is not a Service");
            else if (governing.Body.Map("spec").Text("clusterIP") != "None") check.Problem(governing.File, $"Service {governing.Name}: governs {where} but is not headless (clusterIP: None)");
        }
        var pod = template.Map("spec");
        var volumes = pod.List("volumes").Maps().ToDictionary(v => v.Text("name") ?? "", v => v);
        var secrets = SecretKeys(resources);
        foreach (var (name, volume) in volumes)
        {
            if (volume.Map("secret") is { Count: > 0 } secret)
            {
                var secretName = secret.Text("secretName") ?? "";
                if (!secrets.TryGetValue(secretName, out var keys)) check.Problem(file, $"{where}: volume {name} reads Secret {secretName}, which is not defined");
                else
                    foreach (var item in secret.List("items").Maps())
                        if (!keys.Contains(item.Text("key") ?? "")) check.Problem(file, $"{where}: volume {name} reads key {item.Text("key")}, which Secret {secretName} does not have");
            }
            if (volume.Map("persistentVolumeClaim").Text("claimName") is { } claim && !resources.Any(r => r.Kind == "PersistentVolumeClaim" && r.Name == claim)
                && !spec.List("volumeClaimTemplates").Maps().Any(t => t.Map("metadata").Text("name") == claim))
                check.Problem(file, $"{where}: volume {name} claims {claim}, which is not defined");
            if (volume.Map("configMap").Text("name") is { } map && !resources.Any(r => r.Kind == "ConfigMap" && r.Name == map))
                check.Problem(file, $"{where}: volume {name} reads ConfigMap {map}, which is not defined");
        }
        var containers = pod.List("containers").Maps().ToList();
        if (containers.Count == 0) check.Problem(file, $"{where}: no containers");
        var annotations = template.Map("metadata").Map("annotations");
        foreach (var container in containers)
            Container(check, file, $"{where} container {container.Text("name")}", container, annotations, volumes, resources, secrets, docker);
    }

    private static void Container(
        DeployCheck check, string file, string where, Dictionary<string, object?> container, Dictionary<string, object?> annotations,
        Dictionary<string, Dictionary<string, object?>> volumes, List<Resource> resources, Dictionary<string, List<string>> secrets, Dockerfile? docker)
    {
        var endpoints = new SiloEndpoints();
        if (docker?.Named("silo") is { } stage)
            foreach (var (setting, value) in DockerfileCheck.Settings(docker, stage)) endpoints.Set(setting, value);
        foreach (var source in container.List("envFrom").Maps())
        {
            if (source.Map("configMapRef").Text("name") is { } mapName)
            {
                var map = resources.FirstOrDefault(r => r.Kind == "ConfigMap" && r.Name == mapName);
                if (map is null)
                {
                    check.Problem(file, $"{where}: envFrom ConfigMap {mapName}, which is not defined");
                    continue;
                }
                foreach (var (key, value) in map.Body.Map("data"))
                    if (SiloSettings.FromEnvironmentName(key) is { } setting)
                    {
                        check.Setting(map.File, $"ConfigMap {mapName}: {key}", setting, value as string);
                        endpoints.Set(setting, value as string);
                    }
            }
            if (source.Map("secretRef").Text("name") is { } secretName && !secrets.ContainsKey(secretName))
                check.Problem(file, $"{where}: envFrom Secret {secretName}, which is not defined");
        }
        foreach (var variable in container.List("env").Maps())
        {
            var name = variable.Text("name") ?? "";
            var setting = SiloSettings.FromEnvironmentName(name);
            var from = variable.Map("valueFrom");
            if (from.Map("secretKeyRef") is { Count: > 0 } reference)
            {
                var secretName = reference.Text("name") ?? "";
                if (!secrets.TryGetValue(secretName, out var keys)) check.Problem(file, $"{where}: {name} reads Secret {secretName}, which is not defined");
                else if (!keys.Contains(reference.Text("key") ?? "")) check.Problem(file, $"{where}: {name} reads key {reference.Text("key")}, which Secret {secretName} does not have");
            }
            if (from.Map("configMapKeyRef") is { Count: > 0 } mapReference && !resources.Any(r => r.Kind == "ConfigMap" && r.Name == mapReference.Text("name")))
                check.Problem(file, $"{where}: {name} reads ConfigMap {mapReference.Text("name")}, which is not defined");
            if (setting is null) continue;
            check.Setting(file, $"{where}: {name}", setting, variable.Text("value"));
            endpoints.Set(setting, variable.Text("value") ?? $"(from {string.Join(",", from.Keys)})");
            if (SiloSettings.Canonical(setting) is "AdvertisedAddress" or "MetricsHost" && from.Map("fieldRef").Text("fieldPath") is { } field && field != "status.podIP")
                check.Problem(file, $"{where}: {name} is the pod's {field}, not its IP (status.podIP)");
        }
        if (string.IsNullOrEmpty(endpoints["AdvertisedAddress"])) check.Problem(file, $"{where}: no GROWLENGTH__ADVERTISEDADDRESS (the pod's IP, status.podIP)");

        var ports = container.List("ports").Maps().ToList();
        var byName = ports.Where(p => p.Text("name") is not null).ToDictionary(p => p.Text("name")!, p => int.TryParse(p.Text("containerPort"), out var n) ? n : -1);
        var numbers = ports.Select(p => int.TryParse(p.Text("containerPort"), out var n) ? n : -1).ToHashSet();
        foreach (var (setting, port) in new[] { ("SiloPort", endpoints.SiloPort), ("GatewayPort", endpoints.GatewayPort), ("MetricsPort", endpoints.MetricsPort) })
        {
            if (port is not int p) continue;
            if (!numbers.Contains(p)) check.Problem(file, $"{where}: {setting} is {p}, which is not a containerPort ({string.Join(", ", numbers.Order())})");
            var conventional = setting switch { "SiloPort" => "silo", "GatewayPort" => "gateway", _ => "metrics" };
            if (byName.TryGetValue(conventional, out var named) && named != p) check.Problem(file, $"{where}: port {conventional} is {named}, but {setting} is {p}");
            if (docker?.Named("silo") is { } silo && !DockerfileCheck.Exposed(docker, silo).Contains(p))
                check.Problem(file, $"{where}: {setting} is {p}, which the silo image does not EXPOSE");
        }
        Probes(check, file, where, container, byName, numbers);
        Scrape(check, file, where, annotations, endpoints);
        Mounts(check, file, where, container, volumes, resources, secrets, endpoints);
    }

    private static void Probes(DeployCheck check, string file, string where, Dictionary<string, object?> container, Dictionary<string, int> byName, HashSet<int> numbers)
    {
        var any = false;
        foreach (var kind in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
        {
            var probe = container.Map(kind);
            if (probe.Count == 0) continue;
            any = true;
            var port = probe.Map("tcpSocket").Text("port") ?? probe.Map("httpGet").Text("port");
            if (port is null) continue;
            if (int.TryParse(port, out var number) ? !numbers.Contains(number) : !byName.ContainsKey(port))
                check.Problem(file, $"{where}: {kind} checks port {port}, which is not one of its container ports");
        }
        if (!any) check.Problem(file, $"{where}: no probes");
    }

    private static void Scrape(DeployCheck check, string file, string where, Dictionary<string, object?> annotations, SiloEndpoints endpoints)
    {
        if (endpoints.MetricsPort is not > 0) return;
        if (annotations.Text("prometheus.io/scrape") != "true") check.Problem(file, $"{where}: the pod is not annotated prometheus.io/scrape: \"true\"");
        if (annotations.Text("prometheus.io/port") != endpoints.MetricsPort?.ToString(System.Globalization.CultureInfo.InvariantCulture))
            check.Problem(file, $"{where}: prometheus.io/port is {annotations.Text("prometheus.io/port")}, but MetricsPort is {endpoints.MetricsPort}");
        if ((annotations.Text("prometheus.io/path") ?? "/metrics") != "/metrics") check.Problem(file, $"{where}: prometheus.io/path is not /metrics");
        // Prometheus scrapes podIP:port (the annotations), and the exporter answers only requests that name its MetricsHost.
        if (endpoints["MetricsHost"] != "(from fieldRef)")
            check.Problem(file, $"{where}: MetricsHost is not the pod's IP (GROWLENGTH__METRICSHOST from status.podIP), so a scrape of podIP:{endpoints.MetricsPort} is not answered");
    }

    private static void Mounts(
        DeployCheck check, string file, string where, Dictionary<string, object?> container, Dictionary<string, Dictionary<string, object?>> volumes,
        List<Resource> resources, Dictionary<string, List<string>> secrets, SiloEndpoints endpoints)
    {
        var mounts = container.List("volumeMounts").Maps().Select(m => (Name: m.Text("name") ?? "", Path: (m.Text("mountPath") ?? "").TrimEnd('/'))).ToList();
        foreach (var mount in mounts.Where(m => !volumes.ContainsKey(m.Name)))
            check.Problem(file, $"{where}: mounts volume {mount.Name}, which the pod does not define");
        var checkpoints = endpoints["CheckpointFolder"]?.TrimEnd('/');
        var shared = mounts.FirstOrDefault(m => m.Path == checkpoints);
        if (shared.Name is null) check.Problem(file, $"{where}: nothing is mounted at its CheckpointFolder {checkpoints}: checkpoints would not be shared between silos");
        else if (volumes.GetValueOrDefault(shared.Name)?.Map("persistentVolumeClaim").Text("claimName") is not { } claim)
            check.Problem(file, $"{where}: CheckpointFolder {checkpoints} is not a PersistentVolumeClaim shared by every silo");
        else if (resources.FirstOrDefault(r => r.Kind == "PersistentVolumeClaim" && r.Name == claim) is { } pvc
                 && !pvc.Body.Map("spec").List("accessModes").Contains("ReadWriteMany"))
            check.Problem(pvc.File, $"PersistentVolumeClaim {claim}: every silo mounts it for checkpoints, so it must be ReadWriteMany");
        foreach (var (setting, path) in endpoints.Files)
        {
            var slash = path.LastIndexOf('/');
            var mount = mounts.FirstOrDefault(m => m.Path == path[..slash]);
            if (mount.Name is null)
            {
                check.Problem(file, $"{where}: {setting} {path} is not in a mounted folder");
                continue;
            }
            if (volumes.GetValueOrDefault(mount.Name)?.Map("secret") is not { Count: > 0 } secret) continue;
            var fileName = path[(slash + 1)..];
            var items = secret.List("items").Maps().ToList();
            var present = items.Count > 0
                ? items.Any(i => i.Text("path") == fileName)
                : secrets.GetValueOrDefault(secret.Text("secretName") ?? "")?.Contains(fileName) == true;
            if (!present) check.Problem(file, $"{where}: {setting} {path} is not a file of the Secret mounted at {mount.Path}");
        }
    }

    private static void Service(DeployCheck check, Resource service, List<Resource> workloads)
    {
        var spec = service.Body.Map("spec");
        var selector = spec.Map("selector");
        var selected = workloads.Where(w =>
        {
            var labels = w.Body.Map("spec").Map("template").Map("metadata").Map("labels");
            return selector.Count > 0 && selector.All(s => labels.Text(s.Key) == s.Value as string);
        }).ToList();
        if (selected.Count == 0)
        {
            check.Problem(service.File, $"Service {service.Name}: its selector matches no workload's pods");
            return;
        }
        var containerPorts = selected.SelectMany(w => w.Body.Map("spec").Map("template").Map("spec").List("containers").Maps())
            .SelectMany(c => c.List("ports").Maps()).ToList();
        foreach (var port in spec.List("ports").Maps())
        {
            var target = port.Text("targetPort") ?? port.Text("port");
            var found = int.TryParse(target, out var number)
                ? containerPorts.Any(p => p.Text("containerPort") == target)
                : containerPorts.Any(p => p.Text("name") == target);
            if (!found) check.Problem(service.File, $"Service {service.Name}: port {port.Text("name")} targets {target}, which is not a container port of its pods");
            if (!int.TryParse(port.Text("port"), out number)) check.Problem(service.File, $"Service {service.Name}: port {port.Text("name")} has no numeric port");
        }
    }
}
