// freight_ops reads only on the analytics replica (migration 0035), against a database provisioned as
// every deployed one is (ops_guard.reads_on_primary off) and a real streaming replica of it: refused on
// the primary with the error that names the fix, whatever it reads (a tenant table under RLS, an empty
// one, a table it reads by a plain grant, a view); allowed on the replica; and nothing freight_ops can
// do in its session turns the guard off.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForReplay } from "../../tools/postgres/replay.ts";
import { startPostgres, type PostgresServer } from "../../tools/postgres/server.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { startTestApp } from "../../tools/platform/app.ts";

let db: TestDatabase;
let replica: PostgresServer;

const onReplica = (url: string) => {
  const u = new URL(url);
  u.port = String(replica.port);
  return u.toString();
};

/** One statement (or several, in order) on a fresh session as `url`'s role; the last one's rows. */
async function query(url: string, ...statements: string[]): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let rows: Record<string, unknown>[] = [];
    for (const sql of statements) rows = (await client.query(sql)).rows;
    return rows;
  } finally {
    await client.end();
  }
}

/** What a client sees when the statement fails: SQLSTATE, message and hint. */
async function refusal(url: string, ...statements: string[]) {
  const error = await query(url, ...statements).then(
    () => undefined,
    (e: pg.DatabaseError) => e,
  );
  return error && { code: error.code, message: error.message, hint: error.hint };
}

const REFUSED = {
  code: "42501",
  message:
    "freight_ops reads only on the analytics replica, and this server is the primary; connect to the analytics replica instead",
  hint: expect.stringMatching(
    /^Point OPS_DATABASE_URL \(or the Grafana datasource\) at the region's analytics replica: in AWS the database's analyticsReplicaAddress.*UPDATE ops_guard SET reads_on_primary = true, run as the schema owner\.$/,
  ),
};

/** Waits until the replica has replayed what the primary has committed so far. */
const replayed = () => waitForReplay(db.server.url(), replica.url());

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo", opsReadsOnPrimary: false });
  replica = await startPostgres({ name: "ops-guard-replica", replicaOf: db.server });
}, 180_000);

afterAll(async () => {
  await replica?.stop();
  await db?.stop();
});

describe("freight_ops on the primary", () => {
  it("is refused, naming the replica, on a tenant table, an empty one, a plain-grant table and a view", async () => {
    expect((await query(db.urls.operator, "SELECT count(*)::int AS n FROM usage_warnings"))[0]).toEqual({
      n: 0,
    });
    for (const sql of [
      "SELECT count(*) FROM tenants",
      "SELECT * FROM usage_warnings",
      "SELECT * FROM plans",
      "SELECT name FROM pgmigrations",
      "SELECT * FROM invoice_pricing_view",
    ])
      expect([sql, await refusal(db.urls.ops, sql)]).toEqual([sql, REFUSED]);
  });

  it("leaves every other role as it was: the app and the operators read and write what they are granted", async () => {
    expect((await query(db.urls.app, "SELECT count(*)::int AS n FROM plans"))[0]!["n"]).toBeGreaterThan(0);
    expect(
      (await query(db.urls.operator, "SELECT count(*)::int AS n FROM carriers"))[0]!["n"],
    ).toBeGreaterThanOrEqual(0);
    const [{ n }] = (await query(
      db.urls.operator,
      "UPDATE plans SET name = name RETURNING 1",
      "SELECT count(*)::int AS n FROM plans",
    )) as [{ n: number }];
    expect(n).toBeGreaterThan(0);
  });

  it("cannot turn the guard off: the settings row is not its to write, and no setting bypasses it", async () => {
    expect(await refusal(db.urls.ops, "UPDATE ops_guard SET reads_on_primary = true")).toMatchObject({
      code: "42501",
      message: "permission denied for table ops_guard",
    });
    expect(
      await refusal(
        db.urls.ops,
        "SET ops_guard.reads_on_primary = on",
        "SET row_security = off",
        "SELECT * FROM plans",
      ),
    ).toMatchObject({ code: "42501" });
    // No temporary table to shadow ops_guard with (the guard names public.ops_guard anyway).
    expect(
      await refusal(db.urls.ops, "CREATE TEMP TABLE ops_guard (reads_on_primary boolean)"),
    ).toMatchObject({
      code: "42501",
      message: 'permission denied to create temporary tables in database "freight"',
    });
    expect(await query(db.urls.ops, "SELECT reads_on_primary FROM ops_guard")).toEqual([
      { reads_on_primary: false },
    ]);
  });

  it("puts every table freight_ops can read behind the guard, with no view or definer function around it", async () => {
    const unguarded = await query(
      db.urls.operator,
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'ops_guard'
          AND has_any_column_privilege('freight_ops', c.oid, 'SELECT')
          AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid
                            AND p.polname = 'ops_on_replica' AND NOT p.polpermissive)`,
    );
    expect(unguarded).toEqual([]);
    const ownerRights = await query(
      db.urls.operator,
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')
          AND has_any_column_privilege('freight_ops', c.oid, 'SELECT')
          AND NOT coalesce(c.reloptions::text[] && ARRAY['security_invoker=true', 'security_invoker=on'], false)`,
    );
    expect(ownerRights).toEqual([]);
    // A SECURITY DEFINER function would read with its owner's rights, past the guard, too.
    const definers = await query(
      db.urls.operator,
      `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prosecdef AND has_function_privilege('freight_ops', p.oid, 'EXECUTE')`,
    );
    expect(definers).toEqual([{ proname: "ops_reads_allowed" }]);
  });
});

describe("freight_ops on the streaming replica", () => {
  it("reads every tenant's rows, the plans and the view", async () => {
    await replayed();
    const ops = onReplica(db.urls.ops);
    expect((await query(ops, "SELECT pg_is_in_recovery() AS r"))[0]).toEqual({ r: true });
    expect((await query(ops, "SELECT count(*)::int AS n FROM tenants"))[0]!["n"]).toBeGreaterThanOrEqual(2);
    expect((await query(ops, "SELECT count(*)::int AS n FROM plans"))[0]!["n"]).toBeGreaterThan(0);
    expect(await query(ops, "SELECT * FROM usage_warnings")).toEqual([]);
    expect(await query(ops, "SELECT count(*)::int AS n FROM invoice_pricing_view")).toEqual([{ n: 0 }]);
  });

  it("pays nothing per row: the guard is settled while planning, not filtered row by row", async () => {
    const plan = (
      await query(
        onReplica(db.urls.ops),
        "EXPLAIN (COSTS OFF) SELECT * FROM quotes JOIN tenants ON tenants.id = quotes.tenant_id",
      )
    )
      .map((r) => r["QUERY PLAN"])
      .join("\n");
    expect(plan).toMatch(/Scan .*on quotes/);
    expect(plan).not.toMatch(/ops_reads_allowed/);
  });

  it("lets the quote API's gauges say they are stale when its ops reads are refused, and fresh on the replica", async () => {
    const sample = (text: string, name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();
    // Pointed at the primary, as the secondary region's API is after a flip.
    const onPrimary = await startTestApp({ db });
    try {
      const started = sample(await scrape(onPrimary.url), "aggregate_gauges_last_success_timestamp_seconds");
      const text = await scrape(onPrimary.url);
      expect(sample(text, "aggregate_gauges_refresh_failures_total")).toBe(1);
      // Still the start-up stamp: AggregateGaugesStale counts from it.
      expect(sample(text, "aggregate_gauges_last_success_timestamp_seconds")).toBe(started);
    } finally {
      await onPrimary.stop();
    }
    await replayed();
    const before = Date.now() / 1000;
    const onReplicaApp = await startTestApp({ db, env: { OPS_DATABASE_URL: onReplica(db.urls.ops) } });
    try {
      const text = await scrape(onReplicaApp.url);
      expect(sample(text, "aggregate_gauges_refresh_failures_total")).toBe(0);
      expect(sample(text, "aggregate_gauges_last_success_timestamp_seconds")).toBeGreaterThanOrEqual(before);
      expect(sample(text, "db_replication_lag_seconds")).toBeGreaterThanOrEqual(0);
    } finally {
      await onReplicaApp.stop();
    }
  });

  it("sees the switch as the primary sets it: a test database's opt-in replicates like any row", async () => {
    await query(db.urls.owner, "UPDATE ops_guard SET reads_on_primary = true, changed_at = now()");
    try {
      expect((await query(db.urls.ops, "SELECT count(*)::int AS n FROM plans"))[0]!["n"]).toBeGreaterThan(0);
      await replayed();
      expect(await query(onReplica(db.urls.ops), "SELECT reads_on_primary FROM ops_guard")).toEqual([
        { reads_on_primary: true },
      ]);
    } finally {
      await query(db.urls.owner, "UPDATE ops_guard SET reads_on_primary = false, changed_at = now()");
    }
    expect(await refusal(db.urls.ops, "SELECT * FROM plans")).toEqual(REFUSED);
  });
});
