namespace GrowLength.Tests.Shared;

/// <summary>Waits on the cluster's count of active silos, as its management grain reports it.</summary>
/// <remarks>Linked into each test project that starts silo processes (they reference Orleans).</remarks>
internal static class ActiveSilos
{
    /// <summary>Polls until <paramref name="holds"/> is true of the active-silo count; <see cref="TimeoutException"/> naming
    /// <paramref name="what"/> after 60 s.</summary>
    public static async Task WaitUntil(IGrainFactory grains, Func<int, bool> holds, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        int count;
        while (!holds(count = (await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)).Count))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what}: still {count} active silo(s) after 60 s");
            await Task.Delay(100);
        }
    }
}
