using GrowLength.Tests.Shared;

namespace GrowLength.Cluster.Tests;

/// <summary>One real PostgreSQL server for a test class, and a fresh database for each test that asks.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresServer? server;
    private int databases;

    public PostgresServer Server => server ?? throw new InvalidOperationException("the server has not started");

    public async Task InitializeAsync() => server = await PostgresServer.Start();

    /// <summary>A new, empty database's connection string (named after <paramref name="hint"/> for the server's log).</summary>
    public Task<string> NewDatabase(string hint)
    {
        var name = $"t{Interlocked.Increment(ref databases)}_{new string([.. hint.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit)])}";
        return Server.CreateDatabase(name[..Math.Min(name.Length, 60)]);
    }

    public async Task DisposeAsync()
    {
        if (server is not null) await server.DisposeAsync();
    }
}
