using GrowLength.Grains;
using GrowLength.Grains.Storage.Postgres;
using GrowLength.Tests.Shared;
using GrowLength.Training.Run;
using Npgsql;
using Xunit.Abstractions;

namespace GrowLength.Cluster.Tests;

/// <summary>A production cluster on a real PostgreSQL (Debian's, started by the test): real silo processes keep membership
/// and grain state in it, so the first silo started can die like any other; training goes on while the database restarts
/// and the state catches up after; a silo that cannot reach the database at start retries for a bounded time and says
/// so; a silo that does not reach a run's checkpoint folder refuses its worker.</summary>
public sealed class PostgresClusterTests(SiloProcessFixture fixture, PostgresFixture postgres, ITestOutputHelper output)
    : IClassFixture<SiloProcessFixture>, IClassFixture<PostgresFixture>, IDisposable
{
    /// <summary>SiloStatus.Dead in Orleans' membership rows.</summary>
    private const int Dead = 6;

    private readonly SiloCluster cluster = new(fixture.Root, output);

    /// <summary>Far more steps than any test here waits for: each stops its run itself.</summary>
    private RunSpec Endless => fixture.Long with { Budget = new BudgetConfig { Tokens = 512L * 1_000_000 } };

    [Fact]
    public async Task TheFirstSiloStartedDiesAndTheClusterAndItsRunGoOn()
    {
        var database = await postgres.NewDatabase("first-silo");
        cluster.UsePostgres(database);
        var root = cluster.Folder("first-silo");
        var first = await cluster.StartSilo("first", root);
        var second = await cluster.StartSilo("second", root);
        var third = await cluster.StartSilo("third", root);
        // Started through the first silo's gateway, so the run's coordinator lives there too: the worst silo to lose.
        var starter = await cluster.Connect(first);
        await SiloCluster.WaitForSilos(starter, 3);
        await starter.GetGrain<IScheduleCoordinatorGrain>("first-dies").Create(new CreateRun(RunSpecJson.ToJson(fixture.Long)));
        await starter.GetGrain<IScheduleCoordinatorGrain>("first-dies").Start(new StartRun(3, MinWorkers: 1));
        var watcher = await cluster.Connect(second, third);
        var coordinator = watcher.GetGrain<IScheduleCoordinatorGrain>("first-dies");
        var before = await cluster.WaitWhileRunning(coordinator, s => s.Step >= 8, TimeSpan.FromMinutes(2));
        Assert.Equal(RunLifecycle.Running, before.Lifecycle);
        first.Kill();
        cluster.Log($"SIGKILL of the first silo (the run's coordinator) at step {before.Step}");

        var done = await cluster.WaitWhileRunning(coordinator, limit: TimeSpan.FromMinutes(3));
        Assert.True(done.Lifecycle == RunLifecycle.Completed, $"{done.Lifecycle}: {done.Reason}\n{cluster.Outputs()}");
        var events = await coordinator.Events(0);
        Assert.Contains(events, e => e.Kind == RunEventKind.WorkerLost);
        var ledger = await coordinator.Ledger();
        Assert.True(ledger.Exact, ledger.Problem);
        Assert.Equal((40L, 0L), (ledger.Steps, ledger.TokensRetrained));

        // Membership outlived the first silo: the database says it is dead, and a silo that starts now joins the survivors.
        Assert.Equal(Dead, await SiloStatus(database, first.SiloPort));
        await cluster.StartSilo("late", root);
        await SiloCluster.WaitForSilos(watcher, 3);
        cluster.Log("a silo started after the first one died joined the cluster");
    }

    [Fact]
    public async Task TrainingGoesOnWhilePostgresRestartsAndTheStateCatchesUp()
    {
        var database = await postgres.NewDatabase("restart");
        cluster.UsePostgres(database);
        var root = cluster.Folder("db-restart");
        var first = await cluster.StartSilo("first", root);
        var second = await cluster.StartSilo("second", root);
        var grains = await cluster.Connect(first, second);
        await SiloCluster.WaitForSilos(grains, 2);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("db-restart");
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(Endless)));
        await coordinator.Start(new StartRun(2));
        var before = await cluster.WaitWhileRunning(coordinator, s => s.Step >= 6 && s.LastCheckpointStep >= 5, TimeSpan.FromMinutes(2));
        Assert.Equal(RunLifecycle.Running, before.Lifecycle);

        await postgres.Server.Stop();
        cluster.Log($"PostgreSQL stopped at step {before.Step}");
        // Checkpoints every 5 steps keep being written, and their records wait for the database: 12 steps cross two of them.
        var during = await cluster.WaitWhileRunning(coordinator, s => s.Step >= before.Step + 12, TimeSpan.FromMinutes(2));
        Assert.True(during.Lifecycle == RunLifecycle.Running && during.Step >= before.Step + 12,
            $"training stopped with the database: {during.Lifecycle} at step {during.Step}: {during.Reason}\n{cluster.Outputs()}");
        await postgres.Server.StartAgain();
        cluster.Log($"PostgreSQL started again at step {during.Step}");

        // The owed writes land once the database is back (retried with backoff, at most 30 s apart).
        var caughtUp = await Eventually(TimeSpan.FromSeconds(90), async () =>
        {
            var stored = await StoredRun(database, "db-restart");
            var checkpoints = await StoredCheckpointSteps(database, "db-restart");
            return stored.Training.Progress.Step >= during.Step && checkpoints.Max() >= during.Step - 5 ? (stored, checkpoints) : default;
        });
        cluster.Log($"the database holds step {caughtUp.stored.Training.Progress.Step} and checkpoints {string.Join(", ", caughtUp.checkpoints)}");

        await coordinator.Stop();
        var stopped = await cluster.WaitWhileRunning(coordinator, limit: TimeSpan.FromMinutes(2));
        Assert.True(stopped.Lifecycle == RunLifecycle.Stopped, $"{stopped.Lifecycle}: {stopped.Reason}\n{cluster.Outputs()}");
        var ledger = await coordinator.Ledger();
        Assert.True(ledger.Exact, ledger.Problem);
        Assert.Equal((stopped.Step, 0L), (ledger.Steps, ledger.TokensRetrained));

        // Nothing corrupted: a cluster started afresh on the same database reads the run as it was left, and its last
        // checkpoint verifies.
        first.Kill();
        second.Kill();
        var fresh = await cluster.StartSilo("fresh", root);
        var reader = await cluster.Connect(fresh);
        var reread = await reader.GetGrain<IScheduleCoordinatorGrain>("db-restart").Status();
        Assert.Equal((RunLifecycle.Stopped, stopped.Step, stopped.LastCheckpointStep), (reread.Lifecycle, reread.Step, reread.LastCheckpointStep));
        var latest = await reader.GetGrain<ICheckpointGrain>("db-restart").Latest();
        Assert.Equal(stopped.LastCheckpointStep, latest?.Step);
    }

    [Fact]
    public async Task ASiloStartedWhilePostgresIsDownRetriesThenExitsNamingTheSetting()
    {
        // A port nothing listens on: every try is refused at once, and the start gives up after its budget.
        var refused = $"Host=127.0.0.1;Port={SiloProcess.FreePort()};Username=growlength;Database=none;Timeout=2";
        var root = cluster.Folder("db-down");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            SiloProcess.Start("no-database", "gl-db-down", root, null, 1, "Clustering=postgres", $"PostgresConnection={refused}", "DatabaseStartSeconds=4"));
        cluster.Log($"exited after {clock.Elapsed.TotalSeconds:F1} s:\n{failed.Message}");
        Assert.Contains("exited with code 3", failed.Message);
        Assert.Contains("error: GrowLength:PostgresConnection: PostgreSQL at 127.0.0.1:", failed.Message);
        // The last try's own error, not the budget's timeout.
        Assert.Matches(@"could not be reached: Connection refused \(([2-9]|\d\d+) tries in \d+ s", failed.Message);
        Assert.InRange(clock.Elapsed.TotalSeconds, 4, 60);
        // Nothing started: no state or checkpoint folder was made for a silo that never ran.
        Assert.False(Directory.Exists(Path.Combine(root, "checkpoints")));

        // A database that comes up within the budget is waited for: the server starts only once the silo has tried.
        var database = await postgres.NewDatabase("late-db");
        await postgres.Server.Stop();
        using var silo = SiloProcess.Launch([], "waits", "gl-db-late", root, null, 1, "Clustering=postgres", $"PostgresConnection={database}", "DatabaseStartSeconds=90");
        var tried = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!silo.Output.Contains("not reachable yet") && !silo.HasExited && DateTime.UtcNow < tried) await Task.Delay(100);
        Assert.True(silo.Output.Contains("not reachable yet"), silo.Output);
        await postgres.Server.StartAgain();
        cluster.Log("PostgreSQL started after the silo's first try");
        await silo.WaitStarted();
        Assert.Equal(3, await SiloStatus(database, silo.SiloPort));
    }

    [Fact]
    public async Task TheSchemaMigrationIsIdempotentSafeToRaceAndRefusesSchemasItDidNotMake()
    {
        var database = await postgres.NewDatabase("migration");
        await using (var source = NpgsqlDataSource.Create(database))
        {
            Assert.Equal(0, await PostgresMigration.CurrentVersion(source));
            // Silos starting together: one applies, the others find it done.
            var applied = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => PostgresMigration.Apply(source, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)));
            Assert.Equal(Enumerable.Range(1, PostgresMigration.LatestVersion), applied.SelectMany(a => a).Order());
            Assert.Empty(await PostgresMigration.Apply(source, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
            Assert.Equal(PostgresMigration.LatestVersion, await PostgresMigration.CurrentVersion(source));
            // Every query key Orleans' clustering and grain storage ask for is there.
            await using var keys = source.CreateCommand("SELECT QueryKey FROM OrleansQuery");
            var found = new List<string>();
            await using (var reader = await keys.ExecuteReaderAsync())
                while (await reader.ReadAsync()) found.Add(reader.GetString(0));
            Assert.Superset(new HashSet<string>(found), new HashSet<string>(
            [
                "InsertMembershipVersionKey", "InsertMembershipKey", "UpdateMembershipKey", "UpdateIAmAlivetimeKey", "MembershipReadRowKey",
                "MembershipReadAllKey", "GatewaysQueryKey", "DeleteMembershipTableEntriesKey", "CleanupDefunctSiloEntriesKey",
                "ReadFromStorageKey", "WriteToStorageKey", "ClearStorageKey",
            ]));

            // A schema from a newer build is left alone.
            await using (var newer = source.CreateCommand("INSERT INTO growlength_schema (version) VALUES (999)"))
                await newer.ExecuteNonQueryAsync();
            var tooNew = await Assert.ThrowsAsync<PostgresSchemaException>(() => PostgresMigration.Apply(source, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
            Assert.Contains("version 999, newer than this build's", tooNew.Message);
        }

        // Orleans' own tables, made by someone else's script, are not taken over.
        var foreign = await postgres.NewDatabase("foreign");
        await using (var source = NpgsqlDataSource.Create(foreign))
        {
            await using (var create = source.CreateCommand("CREATE TABLE OrleansQuery (QueryKey varchar(64) PRIMARY KEY, QueryText varchar(8000) NOT NULL)"))
                await create.ExecuteNonQueryAsync();
            var taken = await Assert.ThrowsAsync<PostgresSchemaException>(() => PostgresMigration.Apply(source, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
            Assert.Contains("did not make", taken.Message);
            // Rolled back whole: not even the version table stayed.
            Assert.Equal(0, await PostgresMigration.CurrentVersion(source));
        }
    }

    [Fact]
    public async Task ASiloThatDoesNotReachTheRunsCheckpointFolderRefusesItsWorker()
    {
        cluster.UsePostgres(await postgres.NewDatabase("folders"));
        // The second silo sees an empty disk of its own where the first keeps checkpoints (a private mount namespace with a
        // tmpfs over the folder): as two machines, each with a local disk at the same path, instead of shared storage.
        var root = cluster.Folder("folders");
        var checkpoints = Path.Combine(root, "checkpoints");
        Directory.CreateDirectory(checkpoints);
        var home = await cluster.StartSilo("home", root);
        string[] ownDisk = ["unshare", "--mount", "--propagation", "private", .. Environment.UserName == "root" ? Array.Empty<string>() : ["--map-root-user"],
            "sh", "-c", "mount -t tmpfs tmpfs \"$0\" && exec \"$@\"", checkpoints];
        var elsewhere = await cluster.StartSiloUnder(ownDisk, "elsewhere", root);
        var grains = await cluster.Connect(home);
        await SiloCluster.WaitForSilos(grains, 2);
        var coordinator = grains.GetGrain<IScheduleCoordinatorGrain>("folders");
        await coordinator.Create(new CreateRun(RunSpecJson.ToJson(Endless)));
        // Both workers needed: the start is refused, and the refusal names the worker that failed and why (the slot was
        // there, so "add a slot" alone would mislead); the run stays created.
        var refused = await Assert.ThrowsAsync<RunRequestException>(() => coordinator.Start(new StartRun(2, MinWorkers: 2)));
        Assert.Equal("--workers", refused.Subject);
        Assert.Contains("1 worker start(s) failed (worker ", refused.Message);
        Assert.Contains($"on S127.0.0.1:{elsewhere.SiloPort}:", refused.Message);
        Assert.Contains("cannot reach the checkpoints of run folders", refused.Message);
        Assert.Equal(RunLifecycle.Created, (await coordinator.Status()).Lifecycle);
        await coordinator.Start(new StartRun(2, MinWorkers: 1));
        var running = await cluster.WaitWhileRunning(coordinator, s => s.Step >= 3, TimeSpan.FromMinutes(2));
        Assert.True(running.Lifecycle == RunLifecycle.Running, $"{running.Lifecycle}: {running.Reason}\n{cluster.Outputs()}");
        Assert.Equal(1, running.WorldSize);
        Assert.All(running.Workers, w => Assert.DoesNotContain(elsewhere.SiloPort.ToString(System.Globalization.CultureInfo.InvariantCulture), w.Silo));
        // Said by the silo that refused, and by the coordinator that asked (which passes that silo over for a while).
        Assert.True(elsewhere.Output.Contains("refuses worker") && elsewhere.Output.Contains("does not exist here"), cluster.Outputs());
        Assert.True(home.Output.Contains($"cannot reach the checkpoints of run folders"), cluster.Outputs());
        await coordinator.Stop();
        Assert.Equal(RunLifecycle.Stopped, (await cluster.WaitWhileRunning(coordinator, limit: TimeSpan.FromMinutes(2))).Lifecycle);
    }

    private static async Task<int> SiloStatus(string database, int port)
    {
        await using var source = NpgsqlDataSource.Create(database);
        await using var command = source.CreateCommand("SELECT status FROM orleans_silo WHERE port = $1 ORDER BY generation DESC LIMIT 1");
        command.Parameters.AddWithValue(port);
        return (int)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<CoordinatorState> StoredRun(string database, string runId) =>
        new JsonGrainStateSerializer().Deserialize<CoordinatorState>(await Payload(database, "run", runId));

    private static async Task<long[]> StoredCheckpointSteps(string database, string runId) =>
        [.. new JsonGrainStateSerializer().Deserialize<CheckpointGrainState>(await Payload(database, "checkpoints", runId)).Records.Select(r => r.Step)];

    private static async Task<BinaryData> Payload(string database, string stateName, string key)
    {
        // A fresh connection each time: the pool's connections died with the server.
        await using var source = NpgsqlDataSource.Create(database + ";Pooling=false");
        await using var command = source.CreateCommand("SELECT payload FROM orleans_grain_state WHERE grain_type = $1 AND grain_id_string = $2");
        command.Parameters.AddWithValue(stateName);
        command.Parameters.AddWithValue(key);
        return new BinaryData((byte[])(await command.ExecuteScalarAsync())!);
    }

    /// <summary>Polls <paramref name="probe"/> (errors count as not yet) until it returns a value, for at most <paramref name="limit"/>.</summary>
    private async Task<T> Eventually<T>(TimeSpan limit, Func<Task<T?>> probe)
    {
        var deadline = DateTime.UtcNow + limit;
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await probe() is { } value && !EqualityComparer<T>.Default.Equals(value, default!)) return value;
            }
            catch (Exception e)
            {
                last = e;
            }
            await Task.Delay(500);
        }
        throw new TimeoutException($"not within {limit.TotalSeconds:F0} s (last error: {last?.Message})\n{cluster.Outputs()}");
    }

    public void Dispose() => cluster.Dispose();
}
