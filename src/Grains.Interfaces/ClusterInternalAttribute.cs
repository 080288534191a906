namespace GrowLength.Grains;

/// <summary>Marks a grain method (or every method of a grain interface) that only the cluster's own silos call: the
/// worker protocol, gradient chunks, checkpoint records. A call from a client is refused (<c>ClusterInternalCallFilter</c>).</summary>
/// <remarks>These methods take folders, gradients and step accounts on trust; a client that could call them could make a
/// silo write and prune checkpoint folders anywhere, or poison a run's gradients.</remarks>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Interface, Inherited = false)]
public sealed class ClusterInternalAttribute : Attribute;
