using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>YAML files read into plain values: mappings as ordered dictionaries, sequences as lists, scalars as strings;
/// anchors, aliases and merge keys (<c>&lt;&lt;: *anchor</c>, which compose files use) resolved as compose resolves them.</summary>
internal static class Yaml
{
    /// <summary>Every document of a file.</summary>
    public static List<object?> Documents(string path)
    {
        using var reader = new StreamReader(path);
        var stream = new YamlStream();
        stream.Load(new MergingParser(new Parser(reader)));
        return stream.Documents.Select(d => Plain(d.RootNode)).ToList();
    }

    /// <summary>A file of one document.</summary>
    public static object? Document(string path) => Documents(path) switch
    {
        [var only] => only,
        var all => throw new InvalidDataException($"{path}: {all.Count} YAML documents, expected one"),
    };

    private static object? Plain(YamlNode node) => node switch
    {
        YamlMappingNode map => Mapping(map),
        YamlSequenceNode list => list.Children.Select(Plain).ToList(),
        YamlScalarNode scalar => scalar.Style == ScalarStyle.Plain && scalar.Value is "" or "~" or "null" ? null : scalar.Value,
        _ => throw new InvalidDataException($"unexpected YAML node {node.NodeType} at {node.Start}"),
    };

    // A merged mapping's keys come first, so the mapping's own keys, later, win: YAML's merge-key rule.
    private static Dictionary<string, object?> Mapping(YamlMappingNode map)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in map.Children) result[((YamlScalarNode)key).Value ?? ""] = Plain(value);
        return result;
    }

    /// <summary>The mapping at <paramref name="key"/> of <paramref name="map"/> (empty when absent).</summary>
    public static Dictionary<string, object?> Map(this Dictionary<string, object?> map, string key) =>
        map.GetValueOrDefault(key) as Dictionary<string, object?> ?? [];

    /// <summary>The sequence at <paramref name="key"/> of <paramref name="map"/> (empty when absent).</summary>
    public static List<object?> List(this Dictionary<string, object?> map, string key) =>
        map.GetValueOrDefault(key) as List<object?> ?? [];

    /// <summary>The scalar at <paramref name="key"/> of <paramref name="map"/>, or null.</summary>
    public static string? Text(this Dictionary<string, object?> map, string key) => map.GetValueOrDefault(key) as string;

    /// <summary>The mappings of a sequence (other items skipped).</summary>
    public static IEnumerable<Dictionary<string, object?>> Maps(this List<object?> list) => list.OfType<Dictionary<string, object?>>();
}
