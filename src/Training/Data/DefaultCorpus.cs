using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Xml;
using System.Xml.Linq;
using Microsoft.Extensions.Logging;

namespace GrowLength.Training.Data;

/// <summary>The corpus used when none is given: the English prose of the .NET SDK's reference-pack XML docs, present wherever the SDK is.</summary>
/// <remarks>
/// Sources are <c>packs/*/&lt;highest version&gt;/ref/**/*.xml</c> under the dotnet root. Several packs ship
/// identical copies of the same assembly's documentation (the ASP.NET Core reference pack repeats the
/// core library's), so each file name is used once: the shallowest path in ordinal order wins, which also
/// prefers the English file over localized subfolders. Each file's member texts are grouped into
/// documents of at least <see cref="MinDocumentChars"/> characters, so a byte-level model sees contexts
/// of 4096+ tokens for long-context evaluation. Materialised once as text files, then ingested like any
/// folder of text files.
/// </remarks>
public static class DefaultCorpus
{
    /// <summary>A document is closed once it holds this many characters (the last of a file may be a little longer).</summary>
    public const int MinDocumentChars = 20_000;

    // Bumped when the extraction changes, so old materialised folders are not reused.
    private const int ExtractorVersion = 1;

    /// <summary>Writes the default corpus under <paramref name="cacheRoot"/> (once) and returns the folder of text files.</summary>
    public static string Materialize(string cacheRoot, ILogger logger) =>
        Materialize(cacheRoot, CandidateRoots(), logger);

    internal static string Materialize(string cacheRoot, IEnumerable<string> dotnetRoots, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        var roots = dotnetRoots.ToList();
        var files = roots.Select(FindDocumentationFiles).FirstOrDefault(f => f.Count > 0)
            ?? throw new RunInputException(
                "data.path",
                $"no default corpus: no .NET SDK reference documentation (packs/*/*/ref/**/*.xml) under {string.Join(", ", roots)}; " +
                "pass --data.path with a folder of text files, a .jsonl file or a .bin file");

        var folder = Path.Combine(Path.GetFullPath(cacheRoot), $"{CorpusCacheContents.DefaultTextPrefix}{Fingerprint(files)}");
        if (Directory.Exists(folder))
        {
            logger.LogInformation("Reusing default corpus text {Folder}", folder);
            return folder;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(folder)!);
        var temporary = $"{folder}.tmp-{Guid.NewGuid():N}";
        Directory.CreateDirectory(temporary);
        try
        {
            var (documents, characters) = Write(files, temporary);
            try
            {
                Directory.Move(temporary, folder);
            }
            catch (IOException) when (Directory.Exists(folder))
            {
                // Another process finished the same corpus first; theirs is identical.
            }
            logger.LogInformation(
                "Default corpus: {Characters} characters in {Documents} documents from {Files} SDK documentation files, in {Folder}",
                characters, documents, files.Count, folder);
        }
        finally
        {
            if (Directory.Exists(temporary))
            {
                Directory.Delete(temporary, recursive: true);
            }
        }
        return folder;
    }

    /// <summary>Where dotnet may be: above the running runtime, DOTNET_ROOT, then the usual Linux locations.</summary>
    internal static IEnumerable<string> CandidateRoots()
    {
        var roots = new List<string>();
        for (var dir = new DirectoryInfo(RuntimeEnvironment.GetRuntimeDirectory()); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, "packs")))
            {
                roots.Add(dir.FullName);
                break;
            }
        }
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } dotnetRoot)
        {
            roots.Add(dotnetRoot);
        }
        roots.Add("/usr/share/dotnet");
        roots.Add("/usr/lib/dotnet");
        return roots.Distinct(StringComparer.Ordinal);
    }

    internal static List<string> FindDocumentationFiles(string dotnetRoot)
    {
        var packs = Path.Combine(dotnetRoot, "packs");
        if (!Directory.Exists(packs))
        {
            return [];
        }
        var candidates = new List<string>();
        foreach (var pack in Directory.EnumerateDirectories(packs).Order(StringComparer.Ordinal))
        {
            var version = Directory.EnumerateDirectories(pack)
                .OrderByDescending(v => Version.TryParse(Path.GetFileName(v).Split('-')[0], out var parsed) ? parsed : new Version(0, 0))
                .ThenByDescending(v => v, StringComparer.Ordinal)
                .FirstOrDefault();
            var reference = version is null ? null : Path.Combine(version, "ref");
            if (reference is not null && Directory.Exists(reference))
            {
                candidates.AddRange(Directory.EnumerateFiles(reference, "*.xml", SearchOption.AllDirectories));
            }
        }
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        return candidates
            .OrderBy(f => f.Count(c => c == Path.DirectorySeparatorChar))
            .ThenBy(f => f, StringComparer.Ordinal)
            .Where(f => seen.Add(Path.GetFileName(f)))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private static string Fingerprint(List<string> files)
    {
        var text = new StringBuilder().Append(ExtractorVersion).Append('\n');
        foreach (var file in files)
        {
            var info = new FileInfo(file);
            text.Append(file).Append('\t').Append(info.Length).Append('\t').Append(info.LastWriteTimeUtc.Ticks).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..20];
    }

    /// <summary>Streams each XML file member by member; holds at most two documents' text at a time.</summary>
    private static (long Documents, long Characters) Write(List<string> files, string folder)
    {
        long documents = 0, characters = 0;
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore, XmlResolver = null, IgnoreComments = true };

        void Emit(string text)
        {
            File.WriteAllText(Path.Combine(folder, $"{documents:D6}.txt"), text, new UTF8Encoding(false));
            documents++;
            characters += text.Length;
        }

        foreach (var file in files)
        {
            string? pending = null;
            var current = new StringBuilder();
            try
            {
                using var reader = XmlReader.Create(file, settings);
                reader.MoveToContent();
                while (!reader.EOF)
                {
                    if (reader.NodeType == XmlNodeType.Element && reader.LocalName == "member")
                    {
                        var member = (XElement)XNode.ReadFrom(reader);
                        var text = XmlDocText.MemberText(member);
                        if (text.Length == 0)
                        {
                            continue;
                        }
                        if (current.Length > 0)
                        {
                            current.Append("\n\n");
                        }
                        current.Append(text);
                        if (current.Length >= MinDocumentChars)
                        {
                            if (pending is not null)
                            {
                                Emit(pending);
                            }
                            pending = current.ToString();
                            current.Clear();
                        }
                    }
                    else
                    {
                        reader.Read();
                    }
                }
            }
            catch (XmlException)
            {
                // Not documentation XML (or damaged): the corpus is still well-defined without it.
                continue;
            }
            // A file's short tail joins its last document rather than becoming a short document of its own.
            if (pending is not null && current.Length > 0)
            {
                Emit(pending + "\n\n" + current);
            }
            else if (pending is not null)
            {
                Emit(pending);
            }
            else if (current.Length > 0)
            {
                Emit(current.ToString());
            }
        }
        return (documents, characters);
    }
}
