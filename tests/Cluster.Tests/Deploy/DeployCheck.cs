namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>Reads every deploy file of a repository (deploy/docker, deploy/compose, deploy/k8s, deploy/prometheus,
/// deploy/grafana) and lists what is wrong with them: settings that do not exist or do not parse, ports that disagree
/// between files, files referenced but missing, secrets referenced but not defined, dashboard queries of metrics the silo
/// does not export. An empty list is a pass.</summary>
/// <remarks>A checker of its own (not assertions inline) so a test can run it on a deliberately broken copy and see it fail.</remarks>
internal sealed class DeployCheck
{
    private readonly List<string> problems = [];

    private DeployCheck(string root) => Root = root;

    /// <summary>The repository root the files are read under.</summary>
    public string Root { get; }

    /// <summary>Every problem found under <paramref name="root"/>, each naming its file.</summary>
    public static IReadOnlyList<string> Run(string root)
    {
        var check = new DeployCheck(root);
        var docker = DockerfileCheck.Run(check);
        ComposeCheck.Run(check, docker);
        KubernetesCheck.Run(check, docker);
        PrometheusConfigCheck.Run(check);
        GrafanaCheck.Run(check);
        return check.problems;
    }

    /// <summary>Records a problem of <paramref name="file"/> (an absolute path or one relative to the root).</summary>
    public void Problem(string file, string problem) =>
        problems.Add($"{Relative(file)}: {problem}");

    /// <summary>A path under the root, from '/'-separated parts.</summary>
    public string PathOf(string relative) => Path.Combine(Root, relative.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>A path relative to the root, '/'-separated, for messages.</summary>
    public string Relative(string path) =>
        (Path.IsPathRooted(path) ? Path.GetRelativePath(Root, path) : path).Replace(Path.DirectorySeparatorChar, '/');

    /// <summary>Reads a YAML file, or records why it cannot be read and returns null.</summary>
    public List<object?>? ReadYaml(string path)
    {
        if (!File.Exists(path))
        {
            Problem(path, "missing");
            return null;
        }
        try
        {
            return Yaml.Documents(path);
        }
        catch (Exception e) when (e is YamlDotNet.Core.YamlException or InvalidDataException or InvalidCastException)
        {
            Problem(path, $"not valid YAML: {e.Message}");
            return null;
        }
    }

    /// <summary>Checks one setting as a file gives it (name and value) and records what is wrong.</summary>
    public void Setting(string file, string where, string name, string? value)
    {
        if (SiloSettings.Problem(name, value) is { } problem) Problem(file, $"{where}: {problem}");
    }
}
