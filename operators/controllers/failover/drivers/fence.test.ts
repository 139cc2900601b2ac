// The local host fence against a real primary and its streaming replica: after the fence, the old
// primary refuses every write (open sessions and new ones), also after it is started again on the
// same data directory, and the replica is the only database that accepts writes once promoted.
import { spawn, type ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresBinDir, startPostgres, type PostgresServer } from "../../../../tools/postgres/server.ts";
import { waitFor } from "../../../../tools/platform/operators.ts";
import { PostgresDatabaseDriver } from "./postgres.ts";

let primary: PostgresServer;
let replica: PostgresServer;
let driver: PostgresDatabaseDriver;
let restarted: ChildProcess | undefined;

async function write(url: string, value: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("INSERT INTO acknowledged (value) VALUES ($1)", [value]);
    return "accepted";
  } catch (error) {
    return `refused: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

beforeAll(async () => {
  primary = await startPostgres({ name: "fence-primary", settings: { synchronous_commit: "on" } });
  const setup = new pg.Client({ connectionString: primary.url() });
  await setup.connect();
  await setup.query("CREATE TABLE acknowledged (value text PRIMARY KEY)");
  await setup.end();
  replica = await startPostgres({ name: "fence-replica", replicaOf: primary });
  driver = new PostgresDatabaseDriver(
    { primary: primary.url(), secondary: replica.url() },
    { primary: primary.dataDir },
  );
}, 120_000);

afterAll(async () => {
  restarted?.kill("SIGKILL");
  await driver?.close();
  await replica?.stop();
  await primary?.stop();
});

describe("the local host fence", () => {
  it("refuses a region it cannot reach the host of, saying which setting is missing", async () => {
    await expect(driver.fence("secondary")).rejects.toThrow(/FAILOVER_SECONDARY_DB_DATA_DIR/);
    await expect(driver.isFenced("secondary")).rejects.toThrow(/FAILOVER_SECONDARY_DB_DATA_DIR/);
  });

  it("stops the old primary taking writes, in open sessions and new ones", async () => {
    const session = new pg.Client({ connectionString: primary.url() });
    session.on("error", () => undefined);
    await session.connect();
    await session.query("INSERT INTO acknowledged VALUES ('before')");
    expect(await driver.isFenced("primary")).toBe(false);

    const fenced = await driver.fence("primary");
    expect(fenced.method).toMatch(/standby\.signal written .*postmaster \d+ shut down/);
    expect(await driver.isFenced("primary")).toBe(true);
    await expect(session.query("INSERT INTO acknowledged VALUES ('open-session')")).rejects.toThrow();
    expect(await write(primary.url(), "new-session")).toMatch(/^refused: .*(ECONNREFUSED|connect)/);
    await session.end().catch(() => undefined);
    // A second fence (a controller that died before recording the first) is harmless.
    expect((await driver.fence("primary")).method).toMatch(/no postmaster was running/);
  });

  it("keeps refusing writes after the old primary is started again on the same data directory", async () => {
    const owner = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const group = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    restarted = spawn(join(postgresBinDir(), "postgres"), ["-D", primary.dataDir], {
      uid: owner,
      gid: group,
      stdio: "ignore",
    });
    const answer = await waitFor(
      "the restarted old primary answering",
      async () => {
        const result = await write(primary.url(), "after-restart");
        return /starting up|ECONNREFUSED|connect/.test(result) ? undefined : result;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(answer).toMatch(/^refused: cannot execute INSERT in a read-only transaction/);
    expect(await driver.isFenced("primary")).toBe(true);
  }, 90_000);

  it("leaves exactly one writable database once the replica is promoted, with every acknowledged write", async () => {
    await driver.promote("secondary");
    expect(await driver.isWritable("secondary")).toBe(true);
    expect(await driver.isWritable("primary")).toBe(false);
    expect(await write(replica.url(), "after-promotion")).toBe("accepted");
    const client = new pg.Client({ connectionString: replica.url() });
    await client.connect();
    const { rows } = await client.query<{ value: string }>("SELECT value FROM acknowledged ORDER BY value");
    await client.end();
    expect(rows.map((r) => r.value)).toEqual(["after-promotion", "before"]);
  });
});
