using System.Text.RegularExpressions;
using System.Xml.Linq;
using GrowLength.Training.Data;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Data;

public sealed class DefaultCorpusTests
{
    [Fact]
    public void Materialises_the_sdk_docs_as_prose_without_markup()
    {
        using var temp = new TempFolder();
        var folder = DefaultCorpus.Materialize(temp.Combine("cache"), NullLogger.Instance);
        var files = Directory.GetFiles(folder, "*.txt").Order(StringComparer.Ordinal).ToList();
        long characters = 0;
        // Documentation markup as it appears in the XML. (Prose may legitimately quote XML, such as "<item/>".)
        var markup = new Regex(
            @"<(see|seealso)\s+(cref|langword|href)=|<(paramref|typeparamref)\s+name=|</?(summary|remarks|returns|value|para|exception|example|code|list|xref)\b[^>]*>|cref=""");
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            characters += text.Length;
            Assert.False(markup.IsMatch(text), $"{file} still has markup: {markup.Match(text).Value}");
        }
        Assert.True(characters > 1_000_000, $"only {characters} characters");
        // Documents are long enough for 4096-token contexts at the byte level.
        Assert.True(files.Count(f => new FileInfo(f).Length >= DefaultCorpus.MinDocumentChars) > files.Count / 2);
        // A second call reuses the folder.
        Assert.Equal(folder, DefaultCorpus.Materialize(temp.Combine("cache"), NullLogger.Instance));
        Assert.DoesNotContain(Directory.GetDirectories(temp.Combine("cache")), d => d.Contains(".tmp-"));
    }

    [Fact]
    public void No_sdk_packs_names_data_path()
    {
        using var temp = new TempFolder();
        var e = Assert.Throws<RunInputException>(() =>
            DefaultCorpus.Materialize(temp.Combine("cache"), [temp.Combine("no-dotnet")], NullLogger.Instance));
        Assert.Equal("data.path", e.Subject);
        Assert.Contains("pass --data.path", e.Problem);
    }

    [Fact]
    public void Picks_the_highest_version_of_each_pack_and_each_file_name_once()
    {
        using var temp = new TempFolder();
        const string doc = "<doc><members><member name=\"T:A\"><summary>x</summary></member></members></doc>";
        temp.Write("dotnet/packs/P/9.0.1/ref/net9.0/A.xml", doc);
        temp.Write("dotnet/packs/P/10.0.2/ref/net10.0/A.xml", doc);
        temp.Write("dotnet/packs/P/10.0.2/ref/net10.0/de/A.xml", doc);
        temp.Write("dotnet/packs/Q/10.0.2/ref/net10.0/A.xml", doc);
        temp.Write("dotnet/packs/Q/10.0.2/ref/net10.0/B.xml", doc);
        var files = DefaultCorpus.FindDocumentationFiles(temp.Combine("dotnet"));
        Assert.Equal(
            [temp.Combine("dotnet/packs/P/10.0.2/ref/net10.0/A.xml"), temp.Combine("dotnet/packs/Q/10.0.2/ref/net10.0/B.xml")],
            files);
    }

    [Fact]
    public void Member_markup_becomes_plain_prose()
    {
        var member = XElement.Parse("""
            <member name="M:System.String.Join(System.String,System.String[])">
              <summary>Joins <paramref name="values" /> using <see cref="T:System.String" />; returns
                 <see langword="null" /> never. See <see cref="M:System.Collections.Generic.List`1.Add(`0)" />.</summary>
              <param name="separator">The <c>separator</c>.</param>
              <returns>A <see cref="T:System.String" />.</returns>
              <exception cref="T:System.ArgumentNullException"><paramref name="values" /> is null.</exception>
              <example><code>var s = string.Join(",", a);</code> Example prose.</example>
            </member>
            """);
        Assert.Equal(
            "Joins values using String; returns null never. See Add.\nseparator: The separator .\nA String.\n" +
            "ArgumentNullException: values is null.\nExample prose.",
            XmlDocText.MemberText(member));
    }
}
