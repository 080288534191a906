namespace GrowLength.Client.Chaos;

/// <summary>What a chaos action does to the cluster.</summary>
internal enum ChaosActionKind
{
    /// <summary>SIGKILL the silo process hosting a worker: no goodbye, the cluster finds out by itself.</summary>
    Kill,
    /// <summary>SIGTERM the silo process hosting a worker: a graceful leave.</summary>
    Leave,
    /// <summary>Start one more silo, which joins the cluster with a free device slot.</summary>
    Join,
}
