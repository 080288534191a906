using GrowLength.Grains.Hosting;

namespace GrowLength.Grains;

/// <summary>Durable set of run ids.</summary>
public sealed class RunRegistryState
{
    public List<string> Runs { get; set; } = [];
}

/// <summary>Every run the cluster knows, for <c>growlength list</c> (key "runs").</summary>
public sealed class RunRegistryGrain(
    [PersistentState("registry", GrowLengthStorage.Name)] IPersistentState<RunRegistryState> state) : Grain, IRunRegistryGrain
{
    public async Task Add(string runId)
    {
        if (state.State.Runs.Contains(runId)) return;
        state.State.Runs.Add(runId);
        await state.WriteStateAsync();
    }

    public Task<string[]> List() => Task.FromResult(state.State.Runs.ToArray());
}
