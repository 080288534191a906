using System.Reflection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace GrowLength.Grains.Storage.Postgres;

/// <summary>Brings a PostgreSQL database to GrowLength's schema (the tables and the named queries Orleans' ADO.NET
/// clustering and grain storage call): applies the numbered scripts it has not applied yet, each in its own transaction,
/// and records them in <c>growlength_schema</c>. Idempotent, and safe when several silos start at once.</summary>
public static class PostgresMigration
{
    // Any fixed number: silos starting together queue on it instead of racing to create the same tables.
    private const long LockKey = 0x47_726F_774C_656E; // "GrowLen"

    /// <summary>The schema versions this build knows, in order: embedded Storage/Postgres/Schema-NNN.sql.</summary>
    public static IReadOnlyList<(int Version, string Sql)> Scripts { get; } = LoadScripts();

    /// <summary>The newest schema version this build knows.</summary>
    public static int LatestVersion => Scripts[^1].Version;

    /// <summary>Applies what is missing and returns the versions it applied (none when the database was current).</summary>
    /// <exception cref="PostgresSchemaException">the database holds a newer schema than this build knows, or tables of the
    /// same names that this migration did not make.</exception>
    public static async Task<int[]> Apply(NpgsqlDataSource database, ILogger logger, CancellationToken cancel = default)
    {
        await using var connection = await database.OpenConnectionAsync(cancel);
        await using var transaction = await connection.BeginTransactionAsync(cancel);
        await Execute(connection, transaction, $"SELECT pg_advisory_xact_lock({LockKey})", cancel);
        await Execute(connection, transaction,
            "CREATE TABLE IF NOT EXISTS growlength_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", cancel);
        var current = await CurrentVersion(connection, transaction, cancel);
        if (current > LatestVersion)
            throw new PostgresSchemaException(
                $"the database's schema is version {current}, newer than this build's {LatestVersion}: a newer GrowLength migrated it; run that version");
        var applied = new List<int>();
        foreach (var (version, sql) in Scripts.Where(s => s.Version > current))
        {
            try
            {
                await Execute(connection, transaction, sql, cancel);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateTable)
            {
                throw new PostgresSchemaException(
                    $"schema version {version}: {e.MessageText}. The database already holds Orleans tables that GrowLength's migration did not make "
                    + "(Orleans' own scripts?); give GrowLength a database of its own", e);
            }
            await Execute(connection, transaction, $"INSERT INTO growlength_schema (version) VALUES ({version})", cancel);
            applied.Add(version);
            logger.LogInformation("PostgreSQL schema version {Version} applied", version);
        }
        // One transaction for the lock and every script: a silo that dies half-way leaves the database as it found it.
        await transaction.CommitAsync(cancel);
        return [.. applied];
    }

    /// <summary>The version recorded in <c>growlength_schema</c>; 0 for a database GrowLength never migrated.</summary>
    public static async Task<int> CurrentVersion(NpgsqlDataSource database, CancellationToken cancel = default)
    {
        await using var connection = await database.OpenConnectionAsync(cancel);
        await using var exists = new NpgsqlCommand("SELECT to_regclass('growlength_schema') IS NOT NULL", connection);
        if (!(bool)(await exists.ExecuteScalarAsync(cancel))!) return 0;
        return await CurrentVersion(connection, null, cancel);
    }

    private static async Task<int> CurrentVersion(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancel)
    {
        await using var command = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM growlength_schema", connection, transaction);
        return (int)(await command.ExecuteScalarAsync(cancel))!;
    }

    private static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancel)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancel);
    }

    private static (int, string)[] LoadScripts()
    {
        var assembly = typeof(PostgresMigration).Assembly;
        const string prefix = "GrowLength.Postgres.Schema-";
        var scripts = assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n => (Version: int.Parse(n[prefix.Length..^4], System.Globalization.CultureInfo.InvariantCulture), Sql: Read(assembly, n)))
            .OrderBy(s => s.Version)
            .ToArray();
        // Numbered 1, 2, 3, ... with no gap: a missing script would silently skip a change.
        for (int i = 0; i < scripts.Length; i++)
            if (scripts[i].Version != i + 1) throw new InvalidOperationException($"PostgreSQL schema scripts are not numbered 1..{scripts.Length}: found {scripts[i].Version} at {i + 1}");
        if (scripts.Length == 0) throw new InvalidOperationException("no PostgreSQL schema scripts are embedded in this build");
        return scripts;
    }

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
