using GrowLength.Grains.Hosting;

namespace GrowLength.Grains.Workers;

/// <summary>What a worker's exchange needs to send over the gradient data plane: the silo it runs on (a neighbour on the
/// same silo gets chunks as grain calls, which pass arrays without a copy), whether this silo uses the data plane at all,
/// and the TLS identity its connections present.</summary>
internal sealed record DataPlaneAccess(string Silo, bool Enabled, ClusterCertificates? Tls);
