// Failback on real PostgreSQL: after an unplanned flip (the old primary fenced mid-write, its
// history diverged), the local driver rewinds it into a streaming replica of the new primary; when
// pg_rewind cannot work it takes a fresh base backup and says why; it never rebuilds from a replica;
// after a planned flip back it rewinds the other side too.
import { execFile } from "node:child_process";
import { appendFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresBinDir, startPostgres, type PostgresServer } from "../../../../tools/postgres/server.ts";
import { PostgresDatabaseDriver } from "./postgres.ts";
import { serverIdentity } from "./postgres-rebuild.ts";

const run = promisify(execFile);
let primary: PostgresServer;
let replica: PostgresServer;
let driver: PostgresDatabaseDriver;

async function query<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const values = async (url: string) =>
  (await query<{ value: string }>(url, "SELECT value FROM acknowledged ORDER BY value")).map((r) => r.value);

/** pg_ctl on the old primary's directory (the driver started it detached). */
async function pgCtl(...args: string[]) {
  await run(join(postgresBinDir(), "pg_ctl"), [...args, "-D", primary.dataDir], await serverIdentity());
}

beforeAll(async () => {
  primary = await startPostgres({ name: "rebuild-primary", settings: { synchronous_commit: "on" } });
  await query(primary.url(), "CREATE TABLE acknowledged (value text PRIMARY KEY)");
  await query(primary.url(), "INSERT INTO acknowledged SELECT 'seed-' || g FROM generate_series(1, 5000) g");
  replica = await startPostgres({ name: "rebuild-replica", replicaOf: primary });
  driver = new PostgresDatabaseDriver(
    { primary: primary.url(), secondary: replica.url() },
    { primary: primary.dataDir, secondary: replica.dataDir },
  );
}, 120_000);

afterAll(async () => {
  await pgCtl("stop", "-m", "immediate").catch(() => undefined);
  // The secondary's directory, once rebuilt, also runs under pg_ctl.
  await run(
    join(postgresBinDir(), "pg_ctl"),
    ["stop", "-m", "immediate", "-D", replica.dataDir],
    await serverIdentity(),
  ).catch(() => undefined);
  await driver?.close();
  await replica?.stop();
  await primary?.stop();
});

describe("failback on the local PostgreSQL driver", () => {
  it("refuses to rebuild from a database that is itself a replica", async () => {
    await expect(driver.rebuildReplica("primary")).rejects.toThrow(
      /secondary's database is itself a replica/,
    );
    expect(await driver.isWritable("primary")).toBe(true);
  });

  it("rewinds a fenced old primary whose history diverged into a replica of the new primary", async () => {
    await query(primary.url(), "INSERT INTO acknowledged VALUES ('before-flip')");
    await driver.promote("secondary");
    // Split history: a write only the old primary took, then one on the new primary.
    await query(primary.url(), "INSERT INTO acknowledged VALUES ('only-on-old-primary')");
    await query(replica.url(), "INSERT INTO acknowledged VALUES ('on-new-primary')");
    await driver.fence("primary");

    const report = await driver.rebuildReplica("primary");
    expect(report.method).toBe("pg_rewind");
    expect(report.fallbackReason).toBeUndefined();
    expect(report.streaming).toBe(true);
    // Fenced with SIGQUIT: not a clean shutdown, so crash recovery ran before the rewind.
    expect(report.steps.join("\n")).toMatch(/crash recovery in single-user mode/);
    // Same port as before (its own settings, not the source's), read-only, with the new history.
    expect(await driver.isWritable("primary")).toBe(false);
    const onOld = await values(primary.url());
    expect(onOld).toContain("before-flip");
    expect(onOld).not.toContain("only-on-old-primary");
    await query(replica.url(), "INSERT INTO acknowledged VALUES ('after-rebuild')");
    await expect
      .poll(async () => (await values(primary.url())).includes("after-rebuild"), { timeout: 15_000 })
      .toBe(true);
    await expect(query(primary.url(), "INSERT INTO acknowledged VALUES ('x')")).rejects.toThrow(/read-only/);
  }, 120_000);

  it("leaves a replica that already streams from the new primary as it is", async () => {
    const report = await driver.rebuildReplica("primary");
    expect(report).toMatchObject({ method: "none", streaming: true });
  });

  it("falls back to a fresh base backup when pg_rewind cannot work, and says why", async () => {
    // An old primary that ran without wal_log_hints (or checksums) cannot be rewound: make it one,
    // started on its own (a new timeline) with a write the new primary never sees.
    await pgCtl("stop", "-m", "fast");
    rmSync(join(primary.dataDir, "standby.signal"));
    appendFileSync(join(primary.dataDir, "postgresql.auto.conf"), "wal_log_hints = off\n");
    await pgCtl("start", "-w", "-l", join(primary.dir, "failback.log"));
    expect(await driver.isWritable("primary")).toBe(true);
    await query(primary.url(), "INSERT INTO acknowledged VALUES ('only-on-stale-primary')");

    const report = await driver.rebuildReplica("primary");
    expect(report.method).toBe("pg_basebackup");
    expect(report.fallbackReason).toMatch(/pg_rewind failed: .*wal_log_hints/);
    expect(report.streaming).toBe(true);
    const onOld = await values(primary.url());
    expect(onOld).toEqual(await values(replica.url()));
    expect(onOld).toContain("after-rebuild");
    expect(onOld).not.toContain("only-on-stale-primary");
    expect(await driver.isWritable("primary")).toBe(false);
  }, 120_000);

  it("rewinds the old primary of a planned flip, stopped cleanly right after the promotion", async () => {
    // The flip back: the old secondary keeps running writable until its rebuild stops it with a
    // shutdown checkpoint past the fork, while the just-promoted primary has not yet checkpointed
    // on its new timeline. Without a CHECKPOINT first, pg_rewind answers "no rewind required" and
    // the rebuilt server never streams (the driver then takes a base backup after 20 s).
    await query(replica.url(), "INSERT INTO acknowledged VALUES ('before-flip-back')");
    await expect
      .poll(async () => (await values(primary.url())).includes("before-flip-back"), { timeout: 15_000 })
      .toBe(true);
    await driver.promote("primary");
    await query(primary.url(), "INSERT INTO acknowledged VALUES ('on-promoted-primary')");

    const report = await driver.rebuildReplica("secondary");
    expect(report.method).toBe("pg_rewind");
    expect(report.fallbackReason).toBeUndefined();
    expect(report.steps.join("\n")).toMatch(/checkpoint on .* so its control file names its timeline/);
    expect(report.steps.join("\n")).toMatch(/copied the blocks changed/);
    expect(report.seconds).toBeLessThan(20);
    expect(await driver.isWritable("secondary")).toBe(false);
    await query(primary.url(), "INSERT INTO acknowledged VALUES ('after-flip-back')");
    await expect
      .poll(async () => (await values(replica.url())).includes("after-flip-back"), { timeout: 15_000 })
      .toBe(true);
    expect(await values(replica.url())).toContain("on-promoted-primary");
  }, 120_000);
});
