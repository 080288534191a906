using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace GrowLength.Grains.Storage;

/// <summary>Writes one grain's durable state through a storage outage (PostgreSQL restarting, a network blip): a write
/// that fails is owed, and the grain retries it after <see cref="RetryDelay"/> until it lands.</summary>
/// <remarks>A write that failed on the way back may still have landed, moving the stored ETag on; the next write is then
/// refused as stale. Only in that case (a refusal after a failure) does the writer take the stored ETag and keep its own
/// state: this activation is the one holder of the grain, and what it has in memory is newer than anything stored.</remarks>
internal sealed class StateWriter<T>(IPersistentState<T> state, ILogger logger, string what)
{
    private DateTime? failingSince;
    private int failures;

    /// <summary>One write: throws what the storage threw, and remembers it is owed.</summary>
    public async Task Write()
    {
        try
        {
            try
            {
                await state.WriteStateAsync();
            }
            catch (InconsistentStateException) when (failingSince is not null)
            {
                // A write that failed on the way back had landed: take the stored ETag, keep this activation's state
                // (newer than anything stored), and write again. Only here, after an ambiguous failure: a refusal with
                // no failure before it means another activation wrote, and must stay an error.
                var mine = state.State;
                await state.ReadStateAsync();
                state.State = mine;
                await state.WriteStateAsync();
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (failingSince is null) logger.LogWarning("Could not write {What} ({Problem}); it is retried until the storage is back", what, e.Message);
            failingSince ??= DateTime.UtcNow;
            failures++;
            throw;
        }
        if (failingSince is { } since)
        {
            logger.LogWarning("Wrote {What} again after {Seconds:F0} s of failed writes", what, (DateTime.UtcNow - since).TotalSeconds);
            failingSince = null;
        }
        failures = 0;
    }

    /// <summary>One write that never throws: false when it failed and is owed.</summary>
    public async Task<bool> TryWrite()
    {
        try
        {
            await Write();
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>How long to wait before retrying an owed write: 1 s after the first failure, doubling to 30 s.</summary>
    public TimeSpan RetryDelay => TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, Math.Max(0, failures - 1))));
}
