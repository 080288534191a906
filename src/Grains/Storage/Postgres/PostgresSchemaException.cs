namespace GrowLength.Grains.Storage.Postgres;

/// <summary>The database's schema is not one this build can use (newer, or tables it did not make).</summary>
public sealed class PostgresSchemaException(string message, Exception? inner = null) : Exception(message, inner);
