using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.Extensions.Logging;

namespace GrowLength.Grains.Hosting;

/// <summary>Refuses a call to a <see cref="ClusterInternalAttribute"/> method unless it comes from inside the cluster: from a
/// grain, or from code running on one of the cluster's silos (a worker's training loop). Clients get a
/// <see cref="RunRequestException"/> naming the method.</summary>
/// <remarks>The caller is the message's sending grain id, which a client's own Orleans runtime sets to its client id. A
/// client that writes Orleans' wire protocol itself could put another id there; what keeps such a program out is the
/// gateway's mutual TLS (docs/security.md).</remarks>
internal sealed class ClusterInternalCallFilter(ILogger<ClusterInternalCallFilter> logger) : IIncomingGrainCallFilter
{
    /// <summary>The key prefix of the client id Orleans gives the code of a silo that runs outside any grain
    /// (HostedClient: "hosted-" and the silo's parsable address).</summary>
    private static ReadOnlySpan<byte> HostedClientPrefix => "hosted-"u8;

    private static readonly ConcurrentDictionary<MethodInfo, bool> Internal = new();

    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (IsInternal(context.InterfaceMethod) && !FromInsideTheCluster(context.SourceId))
        {
            var method = $"{context.InterfaceMethod.DeclaringType?.Name}.{context.InterfaceMethod.Name}";
            logger.LogWarning("Refused a call to {Method} from {Caller}: it is internal to the cluster", method, context.SourceId?.ToString() ?? "an unknown caller");
            throw new RunRequestException(method, "is internal to the cluster: only its silos call it, never a client.");
        }
        return context.Invoke();
    }

    private static bool IsInternal(MethodInfo? method) =>
        method is not null && Internal.GetOrAdd(method, m =>
            m.IsDefined(typeof(ClusterInternalAttribute), inherit: false)
            || m.DeclaringType?.IsDefined(typeof(ClusterInternalAttribute), inherit: false) == true);

    private bool FromInsideTheCluster(GrainId? source)
    {
        if (source is not { } caller) return false;
        if (!caller.IsClient()) return true;
        // A silo's own non-grain code calls as its hosted client. Its membership is not checked: a silo that just joined
        // may call before another silo's view lists it, and an id a stock client cannot send needs no second check
        // against a program that forges ids (that one is kept out by TLS, not here).
        return caller.Key.AsSpan().StartsWith(HostedClientPrefix);
    }
}
