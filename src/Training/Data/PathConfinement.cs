namespace GrowLength.Training.Data;

/// <summary>The folders a shared silo reads a run spec's files from: a path resolves (every symbolic link followed, as the
/// kernel would) to a place under one of its roots, and a corpus folder holds no link that leads out of them.</summary>
/// <remarks>A standalone silo takes run specs from any client of its cluster and reads as its own user; without roots a
/// spec naming <c>/home/other/.ssh/id_rsa</c> as a corpus would have the silo pack it and serve its bytes back as token
/// rows. The check runs when the spec arrives; a local user who can swap links inside a root after it is not what it
/// guards against (docs/security.md).</remarks>
public sealed class PathConfinement
{
    private const int MaxLinks = 40;

    private readonly string[]? roots;
    private readonly string setting;

    /// <summary>Paths under <paramref name="roots"/> only; <paramref name="setting"/> is what sets them, for messages.</summary>
    public PathConfinement(IEnumerable<string> roots, string setting)
    {
        ArgumentNullException.ThrowIfNull(roots);
        this.roots = [.. roots.Select(r => RealPath(r)).Distinct(StringComparer.Ordinal)];
        if (this.roots.Length == 0) throw new ArgumentException("at least one root is needed", nameof(roots));
        this.setting = setting;
    }

    private PathConfinement()
    {
        setting = "";
    }

    /// <summary>Any path the process can read: the embedded silo, which runs as the user on the user's behalf.</summary>
    public static PathConfinement Anywhere { get; } = new();

    /// <summary>The resolved roots; null for <see cref="Anywhere"/>.</summary>
    public IReadOnlyList<string>? Roots => roots;

    /// <summary>Throws <see cref="RunInputException"/> naming <paramref name="field"/>, the roots and their setting when
    /// <paramref name="path"/> (null or empty: the default corpus, always allowed) leads outside the roots, itself or
    /// through a link inside the folder it names.</summary>
    public void Check(string? path, string field)
    {
        if (roots is null || string.IsNullOrEmpty(path)) return;
        var real = RealPath(path);
        if (!Inside(real))
            throw Outside(field, $"'{path}'" + (real == Path.GetFullPath(path) ? "" : $" (which resolves to {real})"));
        if (!Directory.Exists(real)) return;
        var walk = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
        foreach (var entry in Directory.EnumerateFileSystemEntries(real, "*", walk))
        {
            if (LinkTarget(entry) is null) continue;
            var target = RealPath(entry);
            if (!Inside(target)) throw Outside(field, $"'{path}' holds {entry}, a link to {target}, which");
        }
    }

    private RunInputException Outside(string field, string what) => new(field,
        $"{what} is outside the folders this silo reads run files from ({string.Join(", ", roots!)}); put the files under one of them, "
        + $"or have the silo's operator add a folder to {setting}.");

    private bool Inside(string real) => roots!.Any(root =>
        real == root || real.StartsWith(root.EndsWith('/') ? root : root + "/", StringComparison.Ordinal));

    /// <summary>The path the kernel opens for <paramref name="path"/>: relative to the working folder, each component's
    /// links followed and each ".." taken after them (Path.GetFullPath removes ".." first, which a link before it defeats).
    /// Components that do not exist are kept as written.</summary>
    public static string RealPath(string path) => RealPath(path, 0);

    private static string RealPath(string path, int links)
    {
        var absolute = Path.IsPathRooted(path) ? path : Path.Combine(Environment.CurrentDirectory, path);
        var current = Path.GetPathRoot(absolute) ?? "/";
        foreach (var part in absolute[current.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }
            var next = Path.Combine(current, part);
            var target = LinkTarget(next);
            if (target is null)
            {
                current = next;
                continue;
            }
            if (links >= MaxLinks) throw new RunInputException(path, $"more than {MaxLinks} symbolic links to follow.");
            current = RealPath(Path.IsPathRooted(target) ? target : Path.Combine(current, target), links + 1);
        }
        return current;
    }

    /// <summary>Where the link <paramref name="path"/> points, or null when it is not a link or cannot be looked at (a
    /// folder on the way this process may not search: the corpus reader fails on it with its own message).</summary>
    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
