using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace GrowLength.Training.Data;

/// <summary>Turns one &lt;member&gt; of a .NET XML documentation file into plain English prose.</summary>
/// <remarks>
/// Keeps the prose sections (summary, remarks, param, returns, value, exception, example), renders
/// references as the short names a reader would say (<c>&lt;see cref="T:System.String"/&gt;</c> → <c>String</c>,
/// <c>&lt;paramref name="x"/&gt;</c> → <c>x</c>, langwords as the keyword), drops code blocks (they are not
/// prose) and collapses whitespace, so no markup reaches the corpus.
/// </remarks>
internal static partial class XmlDocText
{
    private static readonly HashSet<string> Sections = ["summary", "remarks", "param", "returns", "value", "exception", "example"];

    /// <summary>The member's prose, one section per line; empty when it has none.</summary>
    public static string MemberText(XElement member)
    {
        var text = new StringBuilder();
        foreach (var section in member.Elements())
        {
            var name = section.Name.LocalName;
            if (!Sections.Contains(name))
            {
                continue;
            }
            var body = Collapse(Inner(section));
            if (body.Length == 0)
            {
                continue;
            }
            var label = name switch
            {
                "param" => (string?)section.Attribute("name"),
                "exception" => section.Attribute("cref") is { } cref ? ShortName(cref.Value) : null,
                _ => null,
            };
            if (text.Length > 0)
            {
                text.Append('\n');
            }
            if (!string.IsNullOrEmpty(label))
            {
                text.Append(label).Append(": ");
            }
            text.Append(body);
        }
        return text.ToString();
    }

    /// <summary>The short name of a documentation id: <c>M:System.String.Join(System.String[])</c> → <c>Join</c>.</summary>
    public static string ShortName(string id)
    {
        var name = id.Length > 2 && id[1] == ':' ? id[2..] : id;
        var paren = name.IndexOf('(');
        if (paren >= 0)
        {
            name = name[..paren];
        }
        name = Arity().Replace(name, string.Empty);
        var parts = name.Split('.');
        var last = parts[^1];
        if (last == "#ctor" && parts.Length > 1)
        {
            last = parts[^2]; // a constructor reads as its type's name
        }
        return last.Replace('#', '.');
    }

    private static string Inner(XElement element)
    {
        var text = new StringBuilder();
        Append(element.Nodes(), text);
        return text.ToString();
    }

    private static void Append(IEnumerable<XNode> nodes, StringBuilder text)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case XText t:
                    text.Append(t.Value);
                    break;
                case XElement e:
                    AppendElement(e, text);
                    break;
            }
        }
    }

    private static void AppendElement(XElement e, StringBuilder text)
    {
        switch (e.Name.LocalName)
        {
            case "code":
                text.Append(' ');
                return;
            case "see" or "seealso":
                if (e.Attribute("cref") is { } cref)
                {
                    text.Append(ShortName(cref.Value));
                }
                else if (e.Attribute("langword") is { } langword)
                {
                    text.Append(langword.Value);
                }
                else if (!e.IsEmpty)
                {
                    Append(e.Nodes(), text);
                }
                else if (e.Attribute("href") is { } href)
                {
                    text.Append(href.Value);
                }
                return;
            case "paramref" or "typeparamref":
                text.Append((string?)e.Attribute("name"));
                return;
            case "xref":
                if (!e.IsEmpty && e.Value.Trim().Length > 0)
                {
                    Append(e.Nodes(), text);
                }
                else if (e.Attribute("uid") is { } uid)
                {
                    text.Append(ShortName(uid.Value));
                }
                return;
            default:
                // para, list, item, term, description, c, b, i, a, ...: their text, kept apart from neighbours.
                text.Append(' ');
                Append(e.Nodes(), text);
                text.Append(' ');
                return;
        }
    }

    private static string Collapse(string text) => Whitespace().Replace(text, " ").Trim();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"`+\d+")]
    private static partial Regex Arity();
}
