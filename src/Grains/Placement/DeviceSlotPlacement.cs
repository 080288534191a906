using System.Globalization;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace GrowLength.Grains.Placement;

/// <summary>Places each worker of a run on its own device slot: silos advertise their slots in silo metadata.</summary>
public sealed class DeviceSlotPlacement : PlacementStrategy
{
    /// <summary>Silo metadata key: how many compute slots the silo offers.</summary>
    public const string SlotsKey = "growlength.deviceSlots";

    /// <summary>Silo metadata key: cpu or cuda.</summary>
    public const string KindKey = "growlength.deviceKind";

    /// <summary>Request-context key of the silo (its parsable address) a worker's first call should activate it on: the
    /// run's coordinator picks the silo with a free slot, since only it knows which of its workers hold which slots.</summary>
    public const string SiloHintKey = "growlength.silo";

    internal static DeviceSlotPlacement Instance { get; } = new();
}

/// <summary>Marks a grain class for <see cref="DeviceSlotPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class DeviceSlotPlacementAttribute() : PlacementAttribute(DeviceSlotPlacement.Instance);

/// <summary>Places a worker on the silo its coordinator named in the request context (<see cref="DeviceSlotPlacement.SiloHintKey"/>)
/// when that silo is in the cluster; otherwise lays the cluster's slots out in a fixed order (silos sorted by address, each
/// repeated once per slot) and puts worker w on slot w mod (total slots). The device host refuses a worker when its silo's
/// slots are all busy.</summary>
public sealed class DeviceSlotPlacementDirector(ISiloMetadataCache metadata) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target).OrderBy(s => s.ToParsableString(), StringComparer.Ordinal).ToArray();
        if (target.RequestContextData?.TryGetValue(DeviceSlotPlacement.SiloHintKey, out var hint) == true && hint is string wanted
            && silos.FirstOrDefault(s => s.ToParsableString() == wanted) is { } named)
            return Task.FromResult(named);
        var slots = new List<SiloAddress>();
        foreach (var silo in silos)
        {
            for (int i = 0; i < SlotsOf(silo); i++) slots.Add(silo);
        }
        if (slots.Count == 0)
            throw new OrleansException($"no silo in the cluster offers a device slot ({silos.Length} silos); set GrowLength:DeviceSlots on at least one.");
        var key = target.GrainIdentity.Key.ToString()!;
        var worker = WorkerKeys.WorkerOf(key);
        return Task.FromResult(slots[(int)(worker % slots.Count)]);
    }

    private int SlotsOf(SiloAddress silo) => ClusterSlots.SlotsOf(metadata, silo);
}
