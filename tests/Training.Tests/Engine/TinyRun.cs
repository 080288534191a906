using GrowLength.Tests.Shared;
using GrowLength.Training.Run;
using Microsoft.Extensions.Logging.Abstractions;

namespace GrowLength.Training.Tests.Engine;

/// <summary>A tiny learnable corpus and the tiny run preset pointed at it, in a temp folder.</summary>
internal sealed class TinyRun : IDisposable
{
    private readonly TempFolder folder = new();

    public TinyRun(int documents = 24)
    {
        TinyCorpus.Write(CorpusPath, documents);
        Spec = RunSpecPresets.Tiny() with { Data = new DataConfig { Path = CorpusPath, ValidationFraction = 0.1 } };
    }

    public string CorpusPath => folder.Combine("corpus");

    public string CacheRoot => folder.Combine("cache");

    public string CheckpointRoot(string name) => folder.Combine("checkpoints", name);

    public RunSpec Spec { get; }

    public PreparedRun Open(RunSpec? spec = null) => PreparedRun.Open(spec ?? Spec, CacheRoot, NullLogger.Instance);

    public void Dispose() => folder.Dispose();
}
