namespace GrowLength.Client.Chaos;

/// <summary>The chaos harness itself could not go on (a silo did not start, the cluster never answered); the message says why.</summary>
internal sealed class ChaosException(string message, Exception? inner = null) : Exception(message, inner);
