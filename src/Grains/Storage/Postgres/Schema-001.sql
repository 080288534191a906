-- GrowLength's PostgreSQL schema, version 1: what Orleans' ADO.NET clustering and grain storage providers need.
--
-- The providers read their SQL from the table OrleansQuery (the one name they hard-code) by key, bind parameters by name
-- (@DeploymentId, @GrainIdHash, ...) and read result columns by name, case-insensitively. Everything else here (tables,
-- columns, how each query does its job) is ours. Applied once, inside one transaction, by PostgresMigration.

CREATE TABLE OrleansQuery
(
    QueryKey  varchar(64) PRIMARY KEY,
    QueryText text NOT NULL
);

-- ---- Cluster membership ----------------------------------------------------------------------------------------------
-- One row per cluster (Orleans' "deployment"): the membership table's version. Every change to a silo's row bumps it in
-- the same statement, and only when the writer read the current version; that is the providers' optimistic concurrency.
CREATE TABLE orleans_cluster
(
    deployment_id varchar(150) PRIMARY KEY,
    version       integer      NOT NULL DEFAULT 0,
    changed_at    timestamptz  NOT NULL DEFAULT now()
);

-- One row per silo incarnation (address, port and generation: a restarted silo is a new row).
CREATE TABLE orleans_silo
(
    deployment_id   varchar(150) NOT NULL REFERENCES orleans_cluster (deployment_id) ON DELETE CASCADE,
    address         varchar(45)  NOT NULL,
    port            integer      NOT NULL,
    generation      integer      NOT NULL,
    silo_name       varchar(150) NOT NULL,
    host_name       varchar(150) NOT NULL,
    status          integer      NOT NULL,
    proxy_port      integer      NULL,
    suspect_times   text         NULL,
    start_time      timestamptz  NOT NULL,
    i_am_alive_time timestamptz  NOT NULL,
    PRIMARY KEY (deployment_id, address, port, generation)
);

-- Returns 1 when the cluster's row was created, 0 when it was already there.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('InsertMembershipVersionKey', $q$
WITH created AS (
    INSERT INTO orleans_cluster (deployment_id) VALUES (@DeploymentId)
    ON CONFLICT (deployment_id) DO NOTHING
    RETURNING 1)
SELECT count(*)::integer FROM created
$q$);

-- A silo announces itself. The version bump and the insert happen together or not at all: the bump only matches when the
-- writer's version is current and the silo's row does not exist yet, and the insert only runs when the bump did. A second
-- writer racing on the same version waits for the first's row lock, then finds the version moved on and changes nothing.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('InsertMembershipKey', $q$
WITH bumped AS (
    UPDATE orleans_cluster
    SET version = version + 1, changed_at = now()
    WHERE deployment_id = @DeploymentId AND version = @Version
      AND NOT EXISTS (SELECT 1 FROM orleans_silo s
                      WHERE s.deployment_id = @DeploymentId AND s.address = @Address
                        AND s.port = @Port AND s.generation = @Generation)
    RETURNING deployment_id),
added AS (
    INSERT INTO orleans_silo (deployment_id, address, port, generation, silo_name, host_name, status, proxy_port,
                              start_time, i_am_alive_time)
    SELECT deployment_id, @Address, @Port, @Generation, @SiloName, @HostName, @Status, @ProxyPort,
           @StartTime, @IAmAliveTime
    FROM bumped
    RETURNING 1)
SELECT count(*)::integer FROM added
$q$);

-- A silo's status or suspicions change, under the same version rule; a row that is not there changes nothing.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('UpdateMembershipKey', $q$
WITH bumped AS (
    UPDATE orleans_cluster
    SET version = version + 1, changed_at = now()
    WHERE deployment_id = @DeploymentId AND version = @Version
      AND EXISTS (SELECT 1 FROM orleans_silo s
                  WHERE s.deployment_id = @DeploymentId AND s.address = @Address
                    AND s.port = @Port AND s.generation = @Generation)
    RETURNING deployment_id),
changed AS (
    UPDATE orleans_silo s
    SET status = @Status, suspect_times = @SuspectTimes, i_am_alive_time = @IAmAliveTime
    FROM bumped
    WHERE s.deployment_id = bumped.deployment_id AND s.address = @Address
      AND s.port = @Port AND s.generation = @Generation
    RETURNING 1)
SELECT count(*)::integer FROM changed
$q$);

-- The heartbeat: frequent, never contended, and outside the version (Orleans does not read it back as a change).
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('UpdateIAmAlivetimeKey', $q$
UPDATE orleans_silo
SET i_am_alive_time = @IAmAliveTime
WHERE deployment_id = @DeploymentId AND address = @Address AND port = @Port AND generation = @Generation
$q$);

-- Reads return the cluster's row even with no silo (a left join), so the version always comes back.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('MembershipReadRowKey', $q$
SELECT c.deployment_id AS DeploymentId, s.address AS Address, s.port AS Port, s.generation AS Generation,
       s.silo_name AS SiloName, s.host_name AS HostName, s.status AS Status, s.proxy_port AS ProxyPort,
       s.suspect_times AS SuspectTimes, s.start_time AS StartTime, s.i_am_alive_time AS IAmAliveTime,
       c.version AS Version
FROM orleans_cluster c
LEFT JOIN orleans_silo s
       ON s.deployment_id = c.deployment_id AND s.address = @Address AND s.port = @Port AND s.generation = @Generation
WHERE c.deployment_id = @DeploymentId
$q$);

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('MembershipReadAllKey', $q$
SELECT c.deployment_id AS DeploymentId, s.address AS Address, s.port AS Port, s.generation AS Generation,
       s.silo_name AS SiloName, s.host_name AS HostName, s.status AS Status, s.proxy_port AS ProxyPort,
       s.suspect_times AS SuspectTimes, s.start_time AS StartTime, s.i_am_alive_time AS IAmAliveTime,
       c.version AS Version
FROM orleans_cluster c
LEFT JOIN orleans_silo s ON s.deployment_id = c.deployment_id
WHERE c.deployment_id = @DeploymentId
$q$);

-- Gateways a client may connect to: silos with the given status (Active) that opened a gateway.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('GatewaysQueryKey', $q$
SELECT address AS Address, proxy_port AS ProxyPort, generation AS Generation
FROM orleans_silo
WHERE deployment_id = @DeploymentId AND status = @Status AND proxy_port > 0
$q$);

-- The silos' rows go with the cluster's (ON DELETE CASCADE).
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteMembershipTableEntriesKey', $q$
DELETE FROM orleans_cluster WHERE deployment_id = @DeploymentId
$q$);

-- Rows of silos that stopped sending heartbeats long ago; 3 is SiloStatus.Active, which Orleans never cleans up here.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('CleanupDefunctSiloEntriesKey', $q$
DELETE FROM orleans_silo
WHERE deployment_id = @DeploymentId AND i_am_alive_time < @IAmAliveTime AND status <> 3
$q$);

-- ---- Grain state ----------------------------------------------------------------------------------------------------
-- One row per grain state. The provider identifies a grain by its id's hash and two 64-bit halves, its type's hash and
-- name, an optional string key, and the service; the version is the state's ETag (1 at the first write, +1 each write).
CREATE TABLE orleans_grain_state
(
    service_id       varchar(150) NOT NULL,
    grain_type       text         NOT NULL,
    grain_type_hash  integer      NOT NULL,
    grain_id_hash    integer      NOT NULL,
    grain_id_n0      bigint       NOT NULL,
    grain_id_n1      bigint       NOT NULL,
    grain_id_string  text         NULL,
    payload          bytea        NULL,
    version          integer      NOT NULL,
    modified_at      timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT orleans_grain_state_key
        UNIQUE NULLS NOT DISTINCT (service_id, grain_type_hash, grain_id_hash, grain_id_n0, grain_id_n1, grain_type, grain_id_string)
);

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadFromStorageKey', $q$
SELECT payload AS PayloadBinary, version AS Version
FROM orleans_grain_state
WHERE service_id = @ServiceId AND grain_type_hash = @GrainTypeHash AND grain_id_hash = @GrainIdHash
  AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1 AND grain_type = @GrainTypeString
  AND grain_id_string IS NOT DISTINCT FROM @GrainIdExtensionString::text
$q$);

-- A write names the version it read (null: it read nothing). It succeeds only from that version, and returns the new one;
-- returning the version it was given tells the provider the write lost a race (an InconsistentStateException).
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('WriteToStorageKey', $q$
WITH updated AS (
    UPDATE orleans_grain_state
    SET payload = @PayloadBinary, version = version + 1, modified_at = now()
    WHERE service_id = @ServiceId AND grain_type_hash = @GrainTypeHash AND grain_id_hash = @GrainIdHash
      AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1 AND grain_type = @GrainTypeString
      AND grain_id_string IS NOT DISTINCT FROM @GrainIdExtensionString::text
      AND version = @GrainStateVersion::integer
    RETURNING version),
inserted AS (
    INSERT INTO orleans_grain_state (service_id, grain_type, grain_type_hash, grain_id_hash, grain_id_n0, grain_id_n1,
                                     grain_id_string, payload, version)
    SELECT @ServiceId, @GrainTypeString, @GrainTypeHash, @GrainIdHash, @GrainIdN0, @GrainIdN1,
           @GrainIdExtensionString::text, @PayloadBinary, 1
    WHERE @GrainStateVersion::integer IS NULL
    ON CONFLICT ON CONSTRAINT orleans_grain_state_key DO NOTHING
    RETURNING version)
SELECT coalesce((SELECT version FROM updated), (SELECT version FROM inserted), @GrainStateVersion::integer) AS NewGrainStateVersion
$q$);

-- Clearing keeps the row with no payload and a new version, so a later write from the old version is refused.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ClearStorageKey', $q$
UPDATE orleans_grain_state
SET payload = NULL, version = version + 1, modified_at = now()
WHERE service_id = @ServiceId AND grain_type_hash = @GrainTypeHash AND grain_id_hash = @GrainIdHash
  AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1 AND grain_type = @GrainTypeString
  AND grain_id_string IS NOT DISTINCT FROM @GrainIdExtensionString::text
  AND version = @GrainStateVersion::integer
RETURNING version AS NewGrainStateVersion
$q$);
