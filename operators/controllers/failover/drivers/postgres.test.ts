// The local drivers against a real PostgreSQL primary and a real streaming replica (pg_basebackup -R).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { provisionDatabase, type ProvisionedDatabase } from "../../../../app/db/provision.ts";
import { startPostgres, type PostgresServer } from "../../../../tools/postgres/server.ts";
import { waitFor } from "../../../testing/platform.ts";
import type { RoutingState } from "../decide.ts";
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
  it("measure the replica's lag by WAL position: zero when caught up, bytes behind when replay stops", async () => {
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

  it("tolerate a lost database: unreachable means not writable, and the survivor still takes the row", async () => {
    await primary.server.kill();
    expect(await database.isWritable("primary")).toBe(false);
    const unfrozen = { ...frozen, activeRegion: "secondary" as const, writesFrozen: false };
    expect(await routing.apply(unfrozen, "unfreeze")).toEqual(["secondary"]);
    await expect(routing.read("primary")).rejects.toThrow(/ECONNREFUSED|connect/);
  });
});
