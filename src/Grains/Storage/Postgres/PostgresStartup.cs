using System.Diagnostics;
using System.Net.Sockets;
using GrowLength.Grains.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;
using Polly.Retry;

namespace GrowLength.Grains.Storage.Postgres;

/// <summary>What a silo does with PostgreSQL before Orleans starts: reach the database, with a bounded retry while it is
/// still coming up, and bring its schema up to date. A database that stays away ends the start with one clear line.</summary>
public static class PostgresStartup
{
    /// <summary>Connects and migrates, retrying (exponential backoff from 0.5 s, at most 5 s apart) for
    /// <see cref="GrowLengthSiloOptions.DatabaseStartSeconds"/>.</summary>
    /// <exception cref="RunRequestException">the database's schema cannot be used (names the setting and why).</exception>
    /// <exception cref="DatabaseUnavailableException">PostgreSQL could not be reached in that time; names the setting, the
    /// server, the tries and the last error.</exception>
    public static async Task Prepare(GrowLengthSiloOptions options, ILogger logger, CancellationToken cancel = default)
    {
        var setting = $"{GrowLengthSiloOptions.Section}:{nameof(GrowLengthSiloOptions.PostgresConnection)}";
        var builder = new NpgsqlConnectionStringBuilder(options.PostgresConnection);
        var server = $"{builder.Host}:{builder.Port}/{builder.Database}";
        var budget = TimeSpan.FromSeconds(options.DatabaseStartSeconds);
        var clock = Stopwatch.StartNew();
        int tries = 0;
        Exception? last = null;
        // The timeout first, so it bounds all the tries together (Polly's first strategy is the outermost).
        var pipeline = new ResiliencePipelineBuilder()
            .AddTimeout(budget)
            .AddRetry(new RetryStrategyOptions
            {
                // Failures worth waiting out: the server not up yet, refusing, or restarting. A wrong password or a missing
                // database would not heal by waiting.
                ShouldHandle = new PredicateBuilder().Handle<NpgsqlException>(Transient).Handle<SocketException>().Handle<TimeoutException>(),
                MaxRetryAttempts = int.MaxValue,
                Delay = TimeSpan.FromMilliseconds(500),
                MaxDelay = TimeSpan.FromSeconds(5),
                BackoffType = DelayBackoffType.Exponential,
                OnRetry = a =>
                {
                    last = a.Outcome.Exception;
                    logger.LogWarning("PostgreSQL at {Server} not reachable yet (try {Try}: {Problem}); trying again in {Delay:F1} s",
                        server, a.AttemptNumber + 1, Innermost(a.Outcome.Exception).Message, a.RetryDelay.TotalSeconds);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
        try
        {
            await pipeline.ExecuteAsync(async ct =>
            {
                tries++;
                await using var database = NpgsqlDataSource.Create(options.PostgresConnection!);
                var applied = await PostgresMigration.Apply(database, logger, ct);
                logger.LogInformation("PostgreSQL at {Server}: schema version {Version}{Applied}", server, PostgresMigration.LatestVersion,
                    applied.Length == 0 ? " (current)" : $" (applied {string.Join(", ", applied)})");
            }, cancel);
        }
        catch (PostgresSchemaException e)
        {
            throw new RunRequestException(setting, $"PostgreSQL at {server}: {e.Message}.");
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException or Polly.Timeout.TimeoutRejectedException or OperationCanceledException
                                  && !cancel.IsCancellationRequested)
        {
            // The budget ran out between tries or mid-try: the last try's own error says more than the timeout.
            var why = e is Polly.Timeout.TimeoutRejectedException or OperationCanceledException ? last is null ? "no answer" : Innermost(last).Message : Innermost(e).Message;
            throw new DatabaseUnavailableException(setting,
                $"PostgreSQL at {server} could not be reached: {why} ({tries} {(tries == 1 ? "try" : "tries")} in {clock.Elapsed.TotalSeconds:F0} s; "
                + $"{GrowLengthSiloOptions.Section}:{nameof(GrowLengthSiloOptions.DatabaseStartSeconds)}={options.DatabaseStartSeconds}). Start the server, or check the connection string.");
        }
    }

    // Npgsql marks the errors that may pass (connection refused, server starting up or shutting down) as transient.
    private static bool Transient(NpgsqlException e) =>
        e.IsTransient || e is PostgresException { SqlState: PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.AdminShutdown };

    private static Exception Innermost(Exception? e)
    {
        while (e?.InnerException is not null) e = e.InnerException;
        return e ?? new InvalidOperationException("unknown");
    }
}
