using System.Globalization;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace GrowLength.Grains.Placement;

/// <summary>The cluster's silos and their device slots as Orleans' membership and silo metadata see them now: where a
/// run's coordinator may start workers, and which of its workers' silos were declared dead.</summary>
public sealed class ClusterSlots(IClusterMembershipService membership, ISiloMetadataCache metadata)
{
    /// <summary>Active silos sorted by address, each with the device slots it offers.</summary>
    public IReadOnlyList<(SiloAddress Silo, int Slots)> Active() =>
        [.. membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.SiloAddress).OrderBy(s => s.ToParsableString(), StringComparer.Ordinal)
            .Select(s => (s, SlotsOf(metadata, s)))];

    /// <summary>True when membership declared the silo (as <see cref="SiloAddress.ToString"/> writes it, the form
    /// <see cref="WorkerInfo.Silo"/> holds) dead or shutting down.</summary>
    public bool IsGone(string silo) =>
        membership.CurrentSnapshot.Members.Values.Any(m => m.SiloAddress.ToString() == silo
            && m.Status is SiloStatus.Dead or SiloStatus.ShuttingDown or SiloStatus.Stopping);

    /// <summary>The slots a silo advertises; one while its metadata has not reached this silo's cache yet.</summary>
    public static int SlotsOf(ISiloMetadataCache metadata, SiloAddress silo) =>
        metadata.GetSiloMetadata(silo).Metadata.TryGetValue(DeviceSlotPlacement.SlotsKey, out var text)
        && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var slots) ? slots : 1;
}
