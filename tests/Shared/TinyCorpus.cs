using System.Text;

namespace GrowLength.Tests.Shared;

/// <summary>The tiny learnable corpus every test project trains on: short repeated sentences a byte model learns within
/// tens of steps. One writer, linked into each test project, so every suite trains on the same text.</summary>
internal static class TinyCorpus
{
    private static readonly string[] Sentences = ["the cat sat on the mat", "a dog ran in the park", "birds sing at dawn", "rain falls on the roof"];

    /// <summary>Writes <paramref name="documents"/> text files of <paramref name="sentences"/> sentences each into
    /// <paramref name="folder"/> (created) and returns the folder. The defaults make ~21 KB in 24 files.</summary>
    public static string Write(string folder, int documents = 24, int sentences = 40)
    {
        Directory.CreateDirectory(folder);
        for (int d = 0; d < documents; d++)
        {
            var text = new StringBuilder();
            for (int s = 0; s < sentences; s++) text.Append(Sentences[(d + s) % Sentences.Length]).Append(". ");
            File.WriteAllText(Path.Combine(folder, $"doc{d:D3}.txt"), text.ToString());
        }
        return folder;
    }
}
