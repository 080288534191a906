namespace GrowLength.Client.Tests;

/// <summary>One tiny run trained to completion through the embedded silo with an export, shared by the tests that query it.</summary>
public sealed class TrainedHome : IDisposable
{
    private readonly TempFolder temp = new();

    public TrainedHome()
    {
        Corpus = temp.WriteTinyCorpus();
        Result = GrowLengthProgram.Run(temp.Path, 120, "run", "--preset", "tiny", $"--data.path={Corpus}", "--home", Home, "--export", Export);
    }

    public string Corpus { get; }

    public string Home => temp.Combine("home");

    public string Export => temp.Combine("export");

    internal ProgramResult Result { get; }

    public void Dispose() => temp.Dispose();
}

/// <summary>The test classes that read the one trained home: it is trained once for all of them, and they run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class TrainedHomeCollection : ICollectionFixture<TrainedHome>
{
    public const string Name = "trained tiny home";
}
