using System.Text.Json;
using System.Text.RegularExpressions;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>A Dockerfile read instruction by instruction (continuation lines joined, comments dropped), grouped by stage.</summary>
internal sealed partial class Dockerfile
{
    private Dockerfile(string path, List<Stage> stages)
    {
        Path = path;
        Stages = stages;
    }

    public string Path { get; }

    public IReadOnlyList<Stage> Stages { get; }

    /// <summary>One instruction: its keyword (upper case), its arguments, and the line it starts on.</summary>
    public sealed record Instruction(string Keyword, string Arguments, int Line);

    /// <summary>A build stage: <c>FROM image AS name</c> and the instructions that follow it.</summary>
    public sealed record Stage(string From, string? Name, int Line, List<Instruction> Instructions);

    public static Dockerfile Read(string path)
    {
        var stages = new List<Stage>();
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var start = i + 1;
            var text = line;
            while (text.EndsWith('\\') && i + 1 < lines.Length)
            {
                text = text[..^1];
                // Comment lines inside a continued instruction are dropped, as Docker does.
                do i++; while (i < lines.Length && lines[i].TrimStart().StartsWith('#'));
                if (i < lines.Length) text += " " + lines[i].Trim();
            }
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            var keyword = (space < 0 ? text : text[..space]).ToUpperInvariant();
            var arguments = space < 0 ? "" : text[(space + 1)..].Trim();
            if (keyword == "FROM")
            {
                var from = FromLine().Match(arguments);
                if (!from.Success) throw new InvalidDataException($"{path}:{start}: FROM {arguments} is not 'image [AS name]'");
                stages.Add(new Stage(from.Groups["image"].Value, from.Groups["name"].Success ? from.Groups["name"].Value : null, start, []));
            }
            else if (stages.Count == 0)
            {
                if (keyword != "ARG") throw new InvalidDataException($"{path}:{start}: {keyword} before the first FROM");
            }
            else
            {
                stages[^1].Instructions.Add(new Instruction(keyword, arguments, start));
            }
        }
        return new Dockerfile(path, stages);
    }

    /// <summary>The stage named <paramref name="name"/>, or null.</summary>
    public Stage? Named(string name) => Stages.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The stage and the stages it is built FROM within this file, base first.</summary>
    public IEnumerable<Stage> Lineage(Stage stage)
    {
        var chain = new List<Stage>();
        for (var s = stage; s is not null; s = Named(s.From)) chain.Insert(0, s);
        return chain;
    }

    /// <summary>The instructions of a stage with those it inherits, base first.</summary>
    public IEnumerable<Instruction> Effective(Stage stage) => Lineage(stage).SelectMany(s => s.Instructions);

    /// <summary>The variables an ENV instruction sets (<c>ENV A=1 B="two"</c>, or the old <c>ENV A 1</c>).</summary>
    public static IEnumerable<(string Name, string Value)> EnvironmentOf(Instruction env)
    {
        var pairs = EnvPair().Matches(env.Arguments);
        if (pairs.Count == 0)
        {
            var space = env.Arguments.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0) yield return (env.Arguments[..space], env.Arguments[(space + 1)..].Trim());
            yield break;
        }
        foreach (Match pair in pairs) yield return (pair.Groups["name"].Value, pair.Groups["value"].Value.Trim('"'));
    }

    /// <summary>The ports an EXPOSE instruction names, with any that are not numbers as null.</summary>
    public static IEnumerable<(string Text, int? Port)> PortsOf(Instruction expose) =>
        expose.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => (p, int.TryParse(p.Split('/')[0], out var n) ? n : (int?)null));

    /// <summary>The words of an exec-form instruction (<c>ENTRYPOINT ["a", "b"]</c>), or null for shell form.</summary>
    public static string[]? ExecForm(Instruction instruction)
    {
        if (!instruction.Arguments.StartsWith('[')) return null;
        try
        {
            return JsonSerializer.Deserialize<string[]>(instruction.Arguments);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^(?:--platform=\S+\s+)?(?<image>\S+)(?:\s+[Aa][Ss]\s+(?<name>\S+))?$")]
    private static partial Regex FromLine();

    [GeneratedRegex(@"(?<name>[A-Za-z_][A-Za-z0-9_]*)=(?<value>""[^""]*""|\S*)")]
    private static partial Regex EnvPair();
}
