using System.Net.Sockets;
using GrowLength.Tests.Shared;
using Npgsql;

namespace GrowLength.Cluster.Tests;

/// <summary>The real PostgreSQL server the ADO.NET clustering and storage tests run against: data survives a stop, and
/// nothing is left once it is disposed.</summary>
public sealed class PostgresServerTests
{
    [Fact]
    public async Task DataSurvivesStopAndStartAgainAndDisposeLeavesNothing()
    {
        var server = await PostgresServer.Start();
        var (port, folder) = (server.Port, server.Folder);
        try
        {
            Assert.True(Directory.Exists(Path.Combine(folder, "data")), server.Log());
            // Unpooled, so each open below really reaches the server instead of reusing a connection from before the stop.
            var database = new NpgsqlConnectionStringBuilder(await server.CreateDatabase("survives")) { Pooling = false }.ConnectionString;
            await Execute(database, "CREATE TABLE kept (id int PRIMARY KEY, name text NOT NULL)");
            await Execute(database, "INSERT INTO kept VALUES (1, 'first row')");

            await server.Stop();
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => Execute(database, "SELECT 1"));
            Assert.False(Accepts(port), $"port {port} still accepts connections after Stop");

            await server.StartAgain();
            Assert.Equal(port, server.Port);
            Assert.Equal("first row", await Scalar(database, "SELECT name FROM kept WHERE id = 1"));
        }
        finally
        {
            await server.DisposeAsync();
        }
        Assert.False(Accepts(port), $"port {port} still accepts connections after DisposeAsync");
        Assert.False(Directory.Exists(folder), $"{folder} is still there after DisposeAsync");
    }

    [Fact]
    public async Task EachDatabaseIsItsOwnAndTheLogShowsTheServer()
    {
        await using var server = await PostgresServer.Start();
        var first = await server.CreateDatabase("first_db");
        var second = await server.CreateDatabase("second_db");
        await Execute(first, "CREATE TABLE only_here (id int)");

        Assert.Equal("first_db", await Scalar(first, "SELECT current_database()"));
        Assert.Equal("second_db", await Scalar(second, "SELECT current_database()"));
        var error = await Assert.ThrowsAsync<PostgresException>(() => Execute(second, "SELECT * FROM only_here"));
        Assert.Equal(PostgresErrorCodes.UndefinedTable, error.SqlState);
        await Assert.ThrowsAsync<ArgumentException>(() => server.CreateDatabase("Robert\"; DROP"));
        Assert.Contains("database system is ready to accept connections", server.Log(), StringComparison.Ordinal);
    }

    private static async Task Execute(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string?> Scalar(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (string?)await command.ExecuteScalarAsync();
    }

    private static bool Accepts(int port)
    {
        using var client = new TcpClient();
        try
        {
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
