namespace GrowLength.Grains.Workers;

/// <summary>The ring could not deliver a gradient chunk: a neighbour is gone or refused it. The step is given up on every rank.</summary>
internal sealed class RingExchangeException(string message, Exception inner) : Exception(message, inner);
