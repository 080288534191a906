using GrowLength.Training.Data;
using GrowLength.Training.Model;
using GrowLength.Training.Schedules;
using GrowLength.Training.Run;

namespace GrowLength.Training.Run;

/// <summary>Everything that defines a training run; a run is reproducible from its spec (saved in every checkpoint).</summary>
public sealed record RunSpec
{
    /// <summary>Human-readable run name (also the default run id).</summary>
    public string Name { get; init; } = "growlength";

    /// <summary>Seed of the weights and the data order.</summary>
    public long Seed { get; init; } = 1234;

    /// <summary>cpu, cuda, or auto (cuda when available).</summary>
    public string Device { get; init; } = "auto";

    /// <summary>Model shape.</summary>
    public ModelConfig Model { get; init; } = ModelPresets.CpuDemo();

    /// <summary>Corpus and tokenizer.</summary>
    public DataConfig Data { get; init; } = new();

    /// <summary>Sequence-length schedule and batch.</summary>
    public ScheduleConfig Schedule { get; init; } = new();

    /// <summary>How long to train: tokens or wall-clock seconds.</summary>
    public BudgetConfig Budget { get; init; } = new() { Tokens = 20_000_000 };

    /// <summary>AdamW and the learning-rate schedule.</summary>
    public OptimizerConfig Optimizer { get; init; } = new();

    /// <summary>Checkpoint cadence and retention.</summary>
    public CheckpointConfig Checkpoint { get; init; } = new();

    /// <summary>Evaluation lengths and RoPE modes.</summary>
    public EvalConfig Eval { get; init; } = new();

    /// <summary>Every problem with the spec, each naming its setting.</summary>
    public IReadOnlyList<RunInputException> Errors()
    {
        var errors = new List<RunInputException>();
        if (string.IsNullOrWhiteSpace(Name) || Name.IndexOfAny(['/', '\\', ' ', ':']) >= 0)
            errors.Add(new RunInputException("name", $"'{Name}' must be a non-empty name without spaces, slashes or colons (it names folders)."));
        if (Device is not ("auto" or "cpu" or "cuda") && !Device.StartsWith("cuda:", StringComparison.Ordinal))
            errors.Add(new RunInputException("device", $"unknown device '{Device}'; use auto, cpu, cuda or cuda:N."));
        try { (Model.VocabSize == 0 ? Model with { VocabSize = 2 } : Model).Validate(); }
        catch (RunInputException e) { errors.Add(e); }
        errors.AddRange(Data.Validate());
        errors.AddRange(Schedule.Validate());
        errors.AddRange(Schedule.ValidateAgainstModel(Model.MaxLength));
        errors.AddRange(Budget.Validate());
        if (Budget.IsTokens && Budget.Tokens < Schedule.GlobalBatchTokens && Schedule.GlobalBatchTokens > 0)
            errors.Add(new RunInputException("budget.tokens", $"{Budget.Tokens:N0} tokens is less than one step of schedule.globalBatchTokens ({Schedule.GlobalBatchTokens:N0}); raise the budget or lower the batch."));
        errors.AddRange(Optimizer.Validate());
        if (errors.Count == 0) errors.AddRange(Optimizer.ValidateAgainstBudget(Budget));
        errors.AddRange(Checkpoint.Validate());
        errors.AddRange(Eval.Validate());
        if (Eval.CurveLength > Model.MaxLength)
            errors.Add(new RunInputException("eval.curveLength", $"{Eval.CurveLength} is above the model's maximum length {Model.MaxLength} (model.maxLength)."));
        return errors;
    }

    /// <summary>Throws the first problem with the spec as a <see cref="RunInputException"/>.</summary>
    public RunSpec Validated()
    {
        ConfigErrors.ThrowFirst(Errors());
        return this;
    }

    /// <summary>Fills the vocabulary from the tokenizer (when left 0) and checks it can hold every token id.</summary>
    public RunSpec WithVocabularyOf(ITokenizer tokenizer)
    {
        if (Model.VocabSize == 0) return this with { Model = Model with { VocabSize = tokenizer.VocabSize } };
        if (Model.VocabSize < tokenizer.VocabSize)
            throw new RunInputException("model.vocabSize", $"{Model.VocabSize} is smaller than the {tokenizer.Name} tokenizer's {tokenizer.VocabSize} ids; leave it 0 to take the tokenizer's.");
        return this;
    }

    /// <summary>The validation curve's context length: eval.curveLength, or schedule.maxLength.</summary>
    public int CurveLength => Eval.CurveLength ?? Schedule.MaxLength;

    /// <summary>Evaluation lengths, defaulted from the schedule.</summary>
    public IReadOnlyList<int> EvalLengths => Eval.LengthsOrDefault(Schedule.MinLength, Schedule.MaxLength);
}
