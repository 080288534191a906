using Microsoft.Extensions.Logging;

namespace GrowLength.Grains.Storage;

/// <summary>Writes one grain's durable state through a storage outage (PostgreSQL restarting, a network blip): a write
/// that fails is owed, and the next write, or <see cref="WriteThrough"/>'s retries, catch up.</summary>
/// <remarks>A write that failed on the way back may still have landed, moving the stored ETag on; the next write would
/// then be refused as stale. So after a failure the writer first takes the stored ETag and keeps its own state: this
/// activation is the one holder of the grain, and what it has in memory is newer than anything stored.</remarks>
internal sealed class StateWriter<T>(IPersistentState<T> state, ILogger logger, string what)
{
    private DateTime? failingSince;

    /// <summary>A write failed and none has succeeded since.</summary>
    public bool Owed => failingSince is not null;

    /// <summary>Since when writes have been failing (null when they are not).</summary>
    public DateTime? FailingSince => failingSince;

    /// <summary>One write: throws what the storage threw, and remembers it is owed.</summary>
    public async Task Write()
    {
        try
        {
            if (failingSince is not null)
            {
                var mine = state.State;
                await state.ReadStateAsync();
                state.State = mine;
            }
            await state.WriteStateAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (failingSince is null) logger.LogWarning("Could not write {What} ({Problem}); it is retried until the storage is back", what, e.Message);
            failingSince ??= DateTime.UtcNow;
            throw;
        }
        if (failingSince is { } since)
        {
            logger.LogWarning("Wrote {What} again after {Seconds:F0} s of failed writes", what, (DateTime.UtcNow - since).TotalSeconds);
            failingSince = null;
        }
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

    /// <summary>Writes until it lands, waiting 0.5 s doubling to 10 s between tries, for at most <paramref name="patience"/>;
    /// then throws the last failure.</summary>
    public async Task WriteThrough(TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                await Write();
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && DateTime.UtcNow + delay < deadline)
            {
                await Task.Delay(delay);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }
}
