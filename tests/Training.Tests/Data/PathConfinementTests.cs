using GrowLength.Training.Data;

namespace GrowLength.Training.Tests.Data;

/// <summary>A shared silo's run-file roots: where a path really leads decides, not how it is written.</summary>
public sealed class PathConfinementTests : IDisposable
{
    private readonly TempFolder temp = new();
    private readonly string root;
    private readonly string outside;
    private readonly PathConfinement confined;

    public PathConfinementTests()
    {
        root = temp.Combine("root");
        outside = temp.Combine("outside");
        Directory.CreateDirectory(root);
        Directory.CreateDirectory(outside);
        temp.Write("outside/secret.txt", "not for training");
        temp.Write("root/corpus/a.txt", "fine");
        confined = new PathConfinement([root], "GrowLength:PathRoots");
    }

    public void Dispose() => temp.Dispose();

    [Fact]
    public void FilesAndFoldersUnderARootPassAndTheDefaultCorpusAlways()
    {
        confined.Check(Path.Combine(root, "corpus"), "data.path");
        confined.Check(Path.Combine(root, "corpus", "a.txt"), "data.path");
        confined.Check(root, "data.path");
        confined.Check(null, "data.path");
        confined.Check("", "data.path");
    }

    [Fact]
    public void APathOutsideIsRefusedNamingTheFieldTheRootsAndTheSetting()
    {
        var refused = Assert.Throws<RunInputException>(() => confined.Check(Path.Combine(outside, "secret.txt"), "data.path"));
        Assert.Equal("data.path", refused.Subject);
        Assert.Contains(Path.Combine(outside, "secret.txt"), refused.Problem);
        Assert.Contains(root, refused.Problem);
        Assert.Contains("GrowLength:PathRoots", refused.Problem);
        // A sibling whose name starts with the root's is not under it.
        Directory.CreateDirectory(root + "-other");
        Assert.Throws<RunInputException>(() => confined.Check(root + "-other", "data.path"));
    }

    [Fact]
    public void DotDotCannotClimbOut()
    {
        Assert.Throws<RunInputException>(() => confined.Check(Path.Combine(root, "..", "outside", "secret.txt"), "data.path"));
    }

    [Fact]
    public void ALinkUnderARootThatLeadsOutIsRefused()
    {
        var fileLink = Path.Combine(root, "innocent.txt");
        File.CreateSymbolicLink(fileLink, Path.Combine(outside, "secret.txt"));
        var refused = Assert.Throws<RunInputException>(() => confined.Check(fileLink, "data.path"));
        Assert.Contains(Path.Combine(outside, "secret.txt"), refused.Problem);

        var folderLink = Path.Combine(root, "data");
        Directory.CreateSymbolicLink(folderLink, outside);
        Assert.Throws<RunInputException>(() => confined.Check(Path.Combine(folderLink, "secret.txt"), "data.path"));
    }

    [Fact]
    public void DotDotAfterALinkIsTakenWhereTheLinkLeads()
    {
        // root/deep -> outside/inner: "root/deep/../secret.txt" opens outside/secret.txt, though it reads as root/secret.txt.
        Directory.CreateDirectory(Path.Combine(outside, "inner"));
        Directory.CreateSymbolicLink(Path.Combine(root, "deep"), Path.Combine(outside, "inner"));
        File.WriteAllText(Path.Combine(root, "secret.txt"), "a decoy under the root");
        var refused = Assert.Throws<RunInputException>(() => confined.Check(Path.Combine(root, "deep", "..", "secret.txt"), "data.path"));
        Assert.Contains(Path.Combine(outside, "secret.txt"), refused.Problem);
    }

    [Fact]
    public void ACorpusFolderHoldingALinkThatLeadsOutIsRefusedNamingTheLink()
    {
        var link = Path.Combine(root, "corpus", "nested", "b.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        File.CreateSymbolicLink(link, Path.Combine(outside, "secret.txt"));
        var refused = Assert.Throws<RunInputException>(() => confined.Check(Path.Combine(root, "corpus"), "data.path"));
        Assert.Contains(link, refused.Problem);
    }

    [Fact]
    public void LinksThatStayUnderTheRootsPassAndALinkedRootCounts()
    {
        File.CreateSymbolicLink(Path.Combine(root, "corpus", "alias.txt"), Path.Combine(root, "corpus", "a.txt"));
        confined.Check(Path.Combine(root, "corpus"), "data.path");

        // A root given through a link is the folder it leads to.
        var linkedRoot = temp.Combine("linked-root");
        Directory.CreateSymbolicLink(linkedRoot, root);
        new PathConfinement([linkedRoot], "GrowLength:PathRoots").Check(Path.Combine(root, "corpus", "a.txt"), "data.path");
    }

    [Fact]
    public void ALinkLoopIsBadInputNotAHang()
    {
        var a = Path.Combine(root, "a");
        var b = Path.Combine(root, "b");
        File.CreateSymbolicLink(a, b);
        File.CreateSymbolicLink(b, a);
        Assert.Throws<RunInputException>(() => confined.Check(a, "data.path"));
    }

    [Fact]
    public void AnywhereAcceptsEveryPath()
    {
        PathConfinement.Anywhere.Check(Path.Combine(outside, "secret.txt"), "data.path");
        Assert.Null(PathConfinement.Anywhere.Roots);
    }
}
