using GrowLength.Training.Data;

namespace GrowLength.Training.Run;

/// <summary>The <c>data</c> section: which corpus, how it is tokenized and split.</summary>
public sealed record DataConfig
{
    /// <summary>A folder of text files, a JSONL file, or nanoGPT .bin token files; null or empty means the default
    /// corpus (the .NET SDK's reference documentation, no network needed).</summary>
    public string? Path { get; init; }

    /// <summary>Extensions such as [".py", ".md"]: in a <see cref="Path"/> folder only files ending in one of them are
    /// read (.jsonl and .bin keep their own readers). Null or empty: every file that is not hidden. Files that are not
    /// UTF-8 text are skipped and counted, except .txt/.md/.markdown/.text/.rst, which must be UTF-8. A file named
    /// directly by <see cref="Path"/> is read whatever it ends in.</summary>
    public string[]? Extensions { get; init; }

    /// <summary>Tokenizer: bytes (257 ids) or gpt2 (GPT-2 BPE, 50,257 ids).</summary>
    public string Tokenizer { get; init; } = "bytes";

    /// <summary>Share of documents held out for validation, chosen by a seeded hash of each document.</summary>
    public double ValidationFraction { get; init; } = 0.01;

    /// <summary>Seed of the document split; null means the run's seed. Runs that must be scored on the same held-out
    /// tokens while their seeds differ (a comparison's repeats) share one.</summary>
    public long? SplitSeed { get; init; }

    /// <summary>The split's seed for a run seeded with <paramref name="runSeed"/>.</summary>
    public long SplitSeedFor(long runSeed) => SplitSeed ?? runSeed;

    /// <summary>Checks the section; errors name the field.</summary>
    public IEnumerable<RunInputException> Validate(string path = "data")
    {
        if (!TokenizerCatalog.Names.Contains(Tokenizer))
            yield return new RunInputException($"{path}.tokenizer", $"unknown tokenizer '{Tokenizer}'; known: {string.Join(", ", TokenizerCatalog.Names)}.");
        if (!(ValidationFraction is > 0 and < 0.5))
            yield return new RunInputException($"{path}.validationFraction", $"must be above 0 and below 0.5 (is {ValidationFraction}).");
        if (!string.IsNullOrEmpty(Path) && !File.Exists(Path) && !Directory.Exists(Path))
            yield return new RunInputException($"{path}.path", $"'{Path}' does not exist.");
        foreach (var extension in Extensions ?? [])
        {
            if (CorpusSource.ExtensionProblem(extension) is { } problem)
                yield return new RunInputException($"{path}.extensions", problem);
        }
    }
}
