// The local drivers against a real PostgreSQL primary and a real streaming replica (pg_basebackup -R),
// including how they fail: a missing grant and a lost database are different errors, and the
// reconciler carries them into the conditions on-call reads.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { runnersDrained } from "../../../../app/jobs/drain.ts";
import { provisionDatabase, type ProvisionedDatabase } from "../../../../tools/postgres/provision.ts";
import { startPostgres, type PostgresServer } from "../../../../tools/postgres/server.ts";
import { apiVersion } from "../../../api/group.ts";
import type { RegionFailover } from "../../../api/regionfailover.ts";
import type { KubeClient } from "../../../runtime/kube.ts";
import { waitFor } from "../../../../tools/platform/operators.ts";
import { decideNextStep } from "../decide.ts";
import { sampleHealth } from "../health.ts";
import { FailoverReconciler } from "../reconciler.ts";
import type { RoutingState } from "../routing.ts";
import { PostgresDatabaseDriver } from "./postgres.ts";
import { RoutingRowDriver } from "./routing-row.ts";

let primary: ProvisionedDatabase;
let replica: PostgresServer;
let database: PostgresDatabaseDriver;
let routing: RoutingRowDriver;

const onReplica = (url: string) => {
  const u = new URL(url);
  u.port = String(replica.port);
  return u.toString();
};

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

const frozen: RoutingState = {
  activeRegion: "primary",
  writesFrozen: true,
  runnersPaused: true,
  secondaryHealthy: true,
  weights: { primary: 100, secondary: 0 },
};

beforeAll(async () => {
  primary = await provisionDatabase({ name: "failover-drivers", seed: "none" });
  replica = await startPostgres({ name: "failover-drivers-replica", replicaOf: primary.server });
  database = new PostgresDatabaseDriver({
    primary: primary.urls.superuser,
    secondary: onReplica(primary.urls.superuser),
  });
  routing = new RoutingRowDriver({
    primary: primary.urls.operator,
    secondary: onReplica(primary.urls.operator),
  });
}, 120_000);

afterAll(async () => {
  await routing?.close();
  await database?.close();
  await replica?.stop();
  await primary?.stop();
});

describe("local PostgreSQL drivers", () => {
  it("measure the replica's lag: zero when caught up, bytes and growing seconds behind when replay stops", async () => {
    await waitFor("replica caught up", async () => (await database.replication("secondary")).caughtUp);
    expect(await database.replication("secondary")).toEqual({ caughtUp: true, lagBytes: 0, lagSeconds: 0 });

    await sql(onReplica(primary.urls.superuser), "SELECT pg_wal_replay_pause()");
    try {
      // This test server commits asynchronously; a synchronous commit puts the WAL where
      // pg_current_wal_lsn (the write position the driver compares with) already counts it.
      await sql(
        primary.urls.owner,
        "SET synchronous_commit = on; CREATE TABLE lag_probe AS SELECT g FROM generate_series(1, 20000) g",
      );
      const behind = await database.replication("secondary");
      expect(behind.caughtUp).toBe(false);
      expect(behind.lagBytes).toBeGreaterThan(100_000);
      expect(behind.lagSeconds).toBeGreaterThanOrEqual(0);
      // A replica whose replay stands still falls further behind with every second, even though
      // the walsender's replay_lag stops updating while replay is paused.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const later = await database.replication("secondary");
      expect(later.lagSeconds).toBeGreaterThanOrEqual(1.4);
    } finally {
      // Later tests need replay running, whatever happened above.
      await sql(onReplica(primary.urls.superuser), "SELECT pg_wal_replay_resume()");
    }
    await waitFor("replica caught up again", async () => (await database.replication("secondary")).caughtUp);
  });

  it("write the routing row on the primary; the replica's processes see it by replication", async () => {
    expect(await routing.apply(frozen, "failover to secondary: freezing writes")).toEqual(["primary"]);
    expect(await routing.read("primary")).toEqual(frozen);
    await waitFor("replica sees the freeze", async () => (await routing.read("secondary"))?.writesFrozen);
    const row = await sql(primary.urls.ops, "SELECT reason, generation FROM region_routing");
    expect(row.rows[0]).toMatchObject({ reason: "failover to secondary: freezing writes", generation: 2 });
    // Applying the same state again is not a change.
    await routing.apply(frozen, "again");
    expect((await sql(primary.urls.ops, "SELECT generation FROM region_routing")).rows[0].generation).toBe(2);
  });

  it("name a missing grant PermissionDenied, with the database and what was attempted", async () => {
    // The app's operator role may read replication state but not promote (pg_promote is superuser-only).
    const operatorRole = new PostgresDatabaseDriver({
      primary: primary.urls.operator,
      secondary: onReplica(primary.urls.operator),
    });
    try {
      expect(await operatorRole.isWritable("secondary")).toBe(false);
      const refused = await operatorRole.promote("secondary").then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toMatchObject({ name: "DriverError", reason: "PermissionDenied" });
      expect((refused as Error).message).toMatch(
        /^promoting on secondary's database: permission denied \(permission denied for function pg_promote/,
      );
      expect(await database.isWritable("secondary")).toBe(false); // nothing happened
    } finally {
      await operatorRole.close();
    }
  });

  it("promote the replica with pg_promote; then both databases take the routing row", async () => {
    expect(await database.isWritable("primary")).toBe(true);
    expect(await database.isWritable("secondary")).toBe(false);
    await database.promote("secondary");
    expect(await database.isWritable("secondary")).toBe(true);
    // Promoted: it is nobody's replica any more, so there is nothing to catch up with.
    expect((await database.replication("secondary")).caughtUp).toBe(false);
    const flipped = { ...frozen, activeRegion: "secondary" as const };
    expect((await routing.apply(flipped, "repoint writers")).sort()).toEqual(["primary", "secondary"]);
    expect((await routing.read("secondary"))?.activeRegion).toBe("secondary");
    expect((await routing.read("primary"))?.activeRegion).toBe("secondary");
  });

  it("say so when a database has no routing row, and still write it where there is one", async () => {
    const secondaryOwner = onReplica(primary.urls.owner);
    await sql(secondaryOwner, "DELETE FROM region_routing");
    try {
      await expect(routing.read("secondary")).rejects.toThrow(/region_routing has no row.*npm run migrate/);
      const flipped = { ...frozen, activeRegion: "secondary" as const, runnersPaused: false };
      expect(await routing.apply(flipped, "no row on the secondary")).toEqual(["primary"]);
    } finally {
      await sql(secondaryOwner, "INSERT INTO region_routing DEFAULT VALUES");
    }
  });

  it("tolerate a lost database: it is reported Unreachable, and the survivor still takes the row", async () => {
    await primary.server.kill();
    const lost = await database.isWritable("primary").then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(lost).toMatchObject({ name: "DriverError", reason: "Unreachable" });
    expect((lost as Error).message).toMatch(/^checking for writes on primary's database: unreachable \(/);
    const unfrozen = { ...frozen, activeRegion: "secondary" as const, writesFrozen: false };
    expect(await routing.apply(unfrozen, "unfreeze")).toEqual(["secondary"]);
    await expect(routing.read("primary")).rejects.toThrow(/ECONNREFUSED|connect/);
  });

  it("carry the lost database's error into the conditions, where a missing grant would read differently", async () => {
    // The primary is gone (previous test); the secondary serves and the primary is the standby.
    const admin = new pg.Pool({ connectionString: onReplica(primary.urls.owner), max: 1 });
    admin.on("error", () => undefined); // the replica stops after this test
    const reconciler = new FailoverReconciler({
      client: undefined as unknown as KubeClient, // observe() reads the world, not the API server
      log: pino({ level: "silent" }),
      world: {
        database,
        traffic: routing,
        health: () => sampleHealth("http://127.0.0.1:9/readyz", { samples: 1, timeoutMs: 500 }),
        runnersDrained: async (region) => (await runnersDrained(admin, region)).drained,
      },
    });
    try {
      const object: RegionFailover = {
        apiVersion,
        kind: "RegionFailover",
        metadata: { name: "prod", namespace: "freight-system", generation: 1 },
        spec: { activeRegion: "secondary" },
        status: { phase: "Steady", servingRegion: "secondary", observedGeneration: 1 },
      };
      const observations = await reconciler.observe(object, { namespace: "freight-system", name: "prod" });
      expect(observations.failures?.replication).toMatchObject({ reason: "Unreachable" });
      expect(observations.failures?.runnersDrained).toBeUndefined(); // the serving region answers
      expect(observations.failures?.replication?.message).toMatch(/primary's database: unreachable/);
      const { status } = decideNextStep(object.spec, object.status, observations);
      const caughtUp = status.conditions?.find((c) => c.type === "ReplicaCaughtUp");
      expect(caughtUp).toMatchObject({ status: "Unknown", reason: "Unreachable" });
      expect(caughtUp?.message).toMatch(
        /^Replication could not be measured: reading the replay position on primary's database: unreachable \(/,
      );
    } finally {
      await admin.end();
    }
  });
});
