namespace GrowLength.Grains;

/// <summary>A subscription to one run's events, kept alive while it exists: subscribes a callback
/// through an observer reference, renews at a third of <see cref="IScheduleCoordinatorGrain.SubscriptionLifetime"/> (so a
/// coordinator that reactivated elsewhere, with an empty subscriber list, hears from it again within that time), and
/// unsubscribes when disposed. The one way workers and clients listen to a run.</summary>
public sealed class RunEventSubscription : IRunObserver, IAsyncDisposable
{
    private readonly IGrainFactory grains;
    private readonly IScheduleCoordinatorGrain coordinator;
    private readonly Action<RunEvent> onEvent;
    private readonly IRunObserver reference;
    private readonly Timer renewal;

    private RunEventSubscription(IGrainFactory grains, string runId, Action<RunEvent> onEvent)
    {
        this.grains = grains;
        this.onEvent = onEvent;
        coordinator = grains.GetGrain<IScheduleCoordinatorGrain>(runId);
        reference = grains.CreateObjectReference<IRunObserver>(this);
        var every = IScheduleCoordinatorGrain.SubscriptionLifetime / 3;
        renewal = new Timer(_ => Renew(), null, every, every);
    }

    /// <summary>Subscribes to <paramref name="runId"/>'s events; <paramref name="onEvent"/> runs on a thread-pool thread.</summary>
    public static async Task<RunEventSubscription> Start(IGrainFactory grains, string runId, Action<RunEvent> onEvent)
    {
        var subscription = new RunEventSubscription(grains, runId, onEvent);
        try
        {
            await subscription.coordinator.Subscribe(subscription.reference);
        }
        catch
        {
            await subscription.DisposeAsync();
            throw;
        }
        return subscription;
    }

    Task IRunObserver.OnRunEvent(RunEvent runEvent)
    {
        onEvent(runEvent);
        return Task.CompletedTask;
    }

    private void Renew()
    {
        // A renewal that fails (the coordinator is moving, a gateway is away) is retried at the next tick; events missed
        // meanwhile are in the run's kept list for anyone who needs them.
        try
        {
            _ = coordinator.Subscribe(reference).ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        }
        catch (ObjectDisposedException)
        {
            // The client or silo this subscription called through was disposed before the subscription was: the call
            // throws before it returns a task, and a throw in a timer callback would end the whole process.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await renewal.DisposeAsync();
        try
        {
            await coordinator.Unsubscribe(reference).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is TimeoutException or OrleansException or OperationCanceledException)
        {
            // The coordinator is gone or busy: the subscription lapses by itself within its lifetime.
        }
        grains.DeleteObjectReference<IRunObserver>(reference);
    }
}
