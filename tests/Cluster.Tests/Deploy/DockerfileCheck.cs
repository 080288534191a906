using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>deploy/docker/Dockerfile (and the root .dockerignore): what it copies exists and is in the build context, what
/// it publishes is a project, its settings exist, and the silo image exposes the silo's default ports.</summary>
internal static partial class DockerfileCheck
{
    public const string File = "deploy/docker/Dockerfile";

    /// <summary>The build targets compose and the README name.</summary>
    public static readonly string[] Targets = ["silo", "client"];

    /// <summary>Checks the Dockerfile; returns it, or null when it cannot be read.</summary>
    public static Dockerfile? Run(DeployCheck check)
    {
        var path = check.PathOf(File);
        if (!System.IO.File.Exists(path))
        {
            check.Problem(File, "missing");
            return null;
        }
        Dockerfile docker;
        try
        {
            docker = Dockerfile.Read(path);
        }
        catch (InvalidDataException e)
        {
            check.Problem(File, e.Message);
            return null;
        }
        var ignore = DockerIgnore.Read(check.PathOf(".dockerignore"));
        var published = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var stage in docker.Stages)
        {
            foreach (var instruction in stage.Instructions)
            {
                var at = $"line {instruction.Line}";
                foreach (var (key, value) in SiloSettings.FromArguments(instruction.Arguments)) check.Setting(File, at, key, value);
                switch (instruction.Keyword)
                {
                    case "ENV":
                        foreach (var (name, value) in Dockerfile.EnvironmentOf(instruction))
                            if (SiloSettings.FromEnvironmentName(name) is { } setting) check.Setting(File, $"{at}: {name}", setting, value);
                        break;
                    case "COPY" or "ADD":
                        Copy(check, ignore, seen, instruction);
                        break;
                    case "RUN":
                        foreach (Match m in DotnetProject().Matches(instruction.Arguments))
                        {
                            var project = m.Groups["project"].Value;
                            if (!System.IO.File.Exists(check.PathOf(project))) check.Problem(File, $"{at}: dotnet {m.Groups["verb"].Value} of {project}, which does not exist");
                            else if (m.Groups["verb"].Value == "publish") published.Add(project);
                        }
                        break;
                    case "EXPOSE":
                        foreach (var (text, port) in Dockerfile.PortsOf(instruction))
                            if (port is not (> 0 and <= 65535)) check.Problem(File, $"{at}: EXPOSE {text} is not a port");
                        break;
                }
            }
            if (stage.Name is not null) seen.Add(stage.Name);
        }
        if (published.Count == 0) check.Problem(File, "publishes no project (dotnet publish src/.../X.csproj)");
        foreach (var target in Targets)
            if (docker.Named(target) is null) check.Problem(File, $"no stage '{target}' (docker build --target {target})");
        SiloImage(check, docker);
        Entrypoints(check, docker, published);
        return docker;
    }

    /// <summary>The ports a stage exposes, its base stages' included.</summary>
    public static HashSet<int> Exposed(Dockerfile docker, Dockerfile.Stage stage) =>
        docker.Effective(stage).Where(i => i.Keyword == "EXPOSE").SelectMany(Dockerfile.PortsOf).Select(p => p.Port).OfType<int>().ToHashSet();

    /// <summary>The silo settings a stage's ENV instructions set, base stages first.</summary>
    public static IEnumerable<(string Setting, string Value)> Settings(Dockerfile docker, Dockerfile.Stage stage) =>
        docker.Effective(stage).Where(i => i.Keyword == "ENV").SelectMany(Dockerfile.EnvironmentOf)
            .Select(p => (SiloSettings.FromEnvironmentName(p.Name), p.Value))
            .Where(p => p.Item1 is not null)
            .Select(p => (p.Item1!, p.Value));

    // The silo image runs with the silo's defaults unless told otherwise: it must expose those ports.
    private static void SiloImage(DeployCheck check, Dockerfile docker)
    {
        if (docker.Named("silo") is not { } silo) return;
        var endpoints = new SiloEndpoints();
        foreach (var (setting, value) in Settings(docker, silo)) endpoints.Set(setting, value);
        var exposed = Exposed(docker, silo);
        foreach (var (name, port) in new[] { ("SiloPort", endpoints.SiloPort), ("GatewayPort", endpoints.GatewayPort), ("MetricsPort", endpoints.MetricsPort) })
            if (port is int p && !exposed.Contains(p))
                check.Problem(File, $"stage silo: {name} is {p}, which it does not EXPOSE (exposes {string.Join(", ", exposed.Order())})");
    }

    // An ENTRYPOINT that runs /app/NAME must run a program the Dockerfile publishes.
    private static void Entrypoints(DeployCheck check, Dockerfile docker, List<string> published)
    {
        var programs = published.Select(p => AssemblyName(check.PathOf(p))).ToHashSet(StringComparer.Ordinal);
        foreach (var stage in docker.Stages)
            foreach (var entry in stage.Instructions.Where(i => i.Keyword is "ENTRYPOINT" or "CMD"))
                foreach (var word in Dockerfile.ExecForm(entry) ?? [])
                    if (word.StartsWith("/app/", StringComparison.Ordinal) && !programs.Contains(word["/app/".Length..]))
                        check.Problem(File, $"line {entry.Line}: runs {word}, but the published programs are {string.Join(", ", programs.Order())}");
    }

    private static string AssemblyName(string project) =>
        XDocument.Load(project).Descendants("AssemblyName").FirstOrDefault()?.Value ?? Path.GetFileNameWithoutExtension(project);

    private static void Copy(DeployCheck check, DockerIgnore ignore, HashSet<string> earlierStages, Dockerfile.Instruction copy)
    {
        var at = $"line {copy.Line}";
        var words = Dockerfile.ExecForm(copy) ?? copy.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var from = words.FirstOrDefault(w => w.StartsWith("--from=", StringComparison.Ordinal))?["--from=".Length..];
        var paths = words.Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToArray();
        if (paths.Length < 2)
        {
            check.Problem(File, $"{at}: {copy.Keyword} needs a source and a destination");
            return;
        }
        if (from is not null)
        {
            // Another image (name:tag, registry/name) is not this file's business; a stage must come before.
            if (!from.Contains(':') && !from.Contains('/') && !earlierStages.Contains(from))
                check.Problem(File, $"{at}: --from={from} is not an earlier stage");
            return;
        }
        foreach (var source in paths[..^1])
        {
            var relative = source.TrimStart('.', '/');
            if (relative.Length == 0) continue;
            var full = check.PathOf(relative);
            if (!System.IO.File.Exists(full) && !Directory.Exists(full)) check.Problem(File, $"{at}: copies {source}, which does not exist");
            else if (ignore.Excludes(relative)) check.Problem(File, $"{at}: copies {source}, which .dockerignore leaves out of the build context");
        }
    }

    [GeneratedRegex(@"dotnet\s+(?<verb>publish|restore|build)\s+(?<project>\S+\.csproj)")]
    private static partial Regex DotnetProject();
}
