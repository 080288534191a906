namespace GrowLength.Training.Data;

/// <summary>The two halves of a packed corpus: training tokens and held-out validation tokens.</summary>
public enum CorpusSplit
{
    Train,
    Validation,
}
