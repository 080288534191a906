using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace GrowLength.Grains.Storage;

/// <summary>Once the silo is active (its gateway open), writes where it takes clients into the state folder it owns,
/// so any other `growlength` command on that folder's home talks to this silo instead of starting its own.</summary>
internal sealed class StateFolderOwnerPublisher(StateFolderOwnership ownership, ILocalSiloDetails silo, IOptions<ClusterOptions> cluster, bool tls)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(StateFolderOwnerPublisher), ServiceLifecycleStage.Active, _ =>
        {
            // A silo without a gateway takes no clients; the folder stays owned, with nowhere to send them.
            if (silo.GatewayAddress is { } gateway)
                ownership.Publish(new StateFolderOwner(Environment.ProcessId, gateway.Endpoint.ToString(), silo.SiloAddress.Endpoint.ToString(),
                    cluster.Value.ClusterId, DateTimeOffset.UtcNow, tls));
            return Task.CompletedTask;
        });
}
