namespace GrowLength.Grains.Workers;

/// <summary>How a silo's workers exchange gradients: the silo settings that shape the ring, and the silo's data plane.</summary>
/// <param name="Overlap">buckets go out during backward (<see cref="Hosting.GrowLengthSiloOptions.OverlapGradientExchange"/>).</param>
/// <param name="Interleave">the ring works on every started bucket whose chunk is here, not on one bucket at a time
/// (<see cref="Hosting.GrowLengthSiloOptions.InterleaveGradientBuckets"/>).</param>
/// <param name="Pool">where chunk arrays come from and go back to; null sends a fresh copy of every chunk.</param>
/// <param name="DataPlane">this silo's side of the data plane; null sends every chunk as a grain call.</param>
internal sealed record ExchangeSettings(bool Overlap, bool Interleave, GradientChunkPool? Pool, DataPlaneAccess? DataPlane);
