using System.Globalization;
using Microsoft.Extensions.Logging;
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

    internal static DeviceSlotPlacement Instance { get; } = new();
}

/// <summary>Marks a grain class for <see cref="DeviceSlotPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class DeviceSlotPlacementAttribute() : PlacementAttribute(DeviceSlotPlacement.Instance);

/// <summary>Lays the cluster's slots out in a fixed order (silos sorted by address, each repeated once per slot) and puts
/// the worker of rank r on slot r mod (total slots): a run of W ≤ total workers gets one slot per worker, every silo
/// computing the same answer from the same membership. Concurrent runs share slots; the device host refuses a worker
/// when its silo's slots are all busy.</summary>
public sealed class DeviceSlotPlacementDirector(ISiloMetadataCache metadata, ILogger<DeviceSlotPlacementDirector> logger) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target).OrderBy(s => s.ToParsableString(), StringComparer.Ordinal).ToArray();
        var slots = new List<SiloAddress>();
        foreach (var silo in silos)
        {
            for (int i = 0; i < SlotsOf(silo); i++) slots.Add(silo);
        }
        if (slots.Count == 0)
            throw new OrleansException($"no silo in the cluster offers a device slot ({silos.Length} silos); set GrowLength:DeviceSlots on at least one.");
        var key = target.GrainIdentity.Key.ToString()!;
        var rank = WorkerKeys.RankOf(key);
        return Task.FromResult(slots[rank % slots.Count]);
    }

    private int SlotsOf(SiloAddress silo)
    {
        var data = metadata.GetSiloMetadata(silo).Metadata;
        if (data.TryGetValue(DeviceSlotPlacement.SlotsKey, out var text) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var slots))
            return slots;
        // Metadata reaches the cache shortly after a silo joins; until then count the silo as one slot rather than none.
        logger.LogDebug("No device-slot metadata yet for {Silo}; counting one slot", silo);
        return 1;
    }
}
