using System.Text;
using System.Text.RegularExpressions;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>A .dockerignore's patterns: the last pattern that matches a path (or a folder above it) decides, and a
/// pattern starting with '!' lets it back in, as Docker reads the file.</summary>
internal sealed class DockerIgnore(IReadOnlyList<(Regex Pattern, bool Include)> rules)
{
    public static DockerIgnore Read(string path) => new(File.Exists(path)
        ? File.ReadAllLines(path)
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.StartsWith('!') ? (ToRegex(l[1..]), true) : (ToRegex(l), false))
            .ToList()
        : []);

    /// <summary>True when <paramref name="relativePath"/> (from the context root, '/'-separated) is left out of the context.</summary>
    public bool Excludes(string relativePath)
    {
        var path = relativePath.Trim('/');
        var excluded = false;
        foreach (var (pattern, include) in rules)
            if (SelfOrParents(path).Any(p => pattern.IsMatch(p))) excluded = !include;
        return excluded;
    }

    private static IEnumerable<string> SelfOrParents(string path)
    {
        for (var p = path; p.Length > 0; p = p.Contains('/') ? p[..p.LastIndexOf('/')] : "") yield return p;
    }

    private static Regex ToRegex(string pattern)
    {
        var p = pattern.Trim('/');
        var regex = new StringBuilder("^");
        for (var i = 0; i < p.Length; i++)
        {
            if (p[i] == '*' && i + 1 < p.Length && p[i + 1] == '*')
            {
                // "**/" matches any number of folders, none included.
                if (i + 2 < p.Length && p[i + 2] == '/') { regex.Append("(?:.*/)?"); i += 2; }
                else { regex.Append(".*"); i++; }
            }
            else if (p[i] == '*') regex.Append("[^/]*");
            else if (p[i] == '?') regex.Append("[^/]");
            else regex.Append(Regex.Escape(p[i].ToString()));
        }
        return new Regex(regex.Append('$').ToString());
    }
}
