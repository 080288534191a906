namespace GrowLength.Grains.Hosting;

/// <summary>The cluster's database could not be reached in the time a silo gives it at start. <see cref="Setting"/> names
/// the setting that points at it; the message says what was tried and the last error.</summary>
public sealed class DatabaseUnavailableException(string setting, string message) : Exception(message)
{
    public string Setting { get; } = setting;
}
