// The RLS probe against a real PostgreSQL: it passes on the migrated schema and fails, naming the table
// and what leaked, on each kind of leak created here in the scratch database (and undone after).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { probe, type ProbeFinding } from "./rls-probe.ts";

const run = promisify(execFile);
let db: TestDatabase;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
});
afterAll(async () => db?.stop());

async function asSuperuser(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: db.urls.superuser.replace(/\/postgres$/, "/freight") });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Runs the probe with a leak in place, then removes the leak; returns the failed findings. */
async function withLeak(leak: string, undo: string): Promise<ProbeFinding[]> {
  await asSuperuser(leak);
  try {
    return (await probe(db.urls.app)).filter((f) => !f.ok);
  } finally {
    await asSuperuser(undo);
  }
}

function failed(findings: ProbeFinding[], check: string): string {
  const finding = findings.find((f) => f.check === check);
  expect(
    finding,
    `expected a failed check "${check}", got: ${findings.map((f) => f.check).join(", ")}`,
  ).toBeDefined();
  return finding?.detail ?? "";
}

async function runProbeCli(url: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(process.execPath, ["app/ops/rls-probe.ts", "--database-url", url]);
    return { code: 0, output: stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

describe("npm run rls-probe", () => {
  it("passes on the migrated schema, probing every tenant table by behaviour, and leaves nothing behind", async () => {
    const result = await runProbeCli(db.urls.app);
    expect(result.output).toMatch(/All \d+ checks passed/);
    expect(result.code).toBe(0);
    // Tables found from the catalog, each written, read, updated, deleted and inserted across.
    for (const table of ["quotes", "bulk_job_lanes", "invoices", "carrier_invites", "entitlements", "jobs"]) {
      expect(result.output).toContain(
        `ok    cross-tenant read ${table}: tenant A sees no other tenant's rows`,
      );
      expect(result.output).toMatch(new RegExp(`ok {4}cross-tenant insert ${table}: refused`));
    }
    expect(result.output).toMatch(/ok {4}cross-tenant move quotes: refused/);
    // Deletes are probed wherever the app may delete (invoices, which it may not since 0020, are not).
    expect(result.output).toMatch(/ok {4}cross-tenant delete sso_sessions: 0 of B's rows deleted/);
    const ops = new pg.Client({ connectionString: db.urls.ops });
    await ops.connect();
    const { rows } = await ops.query("SELECT count(*)::int AS n FROM tenants WHERE slug LIKE 'rls-probe-%'");
    await ops.end();
    expect(rows[0].n).toBe(0);
  });

  it("fails with exit 1 when a permissive policy lets a tenant read everyone's quotes", async () => {
    await asSuperuser("CREATE POLICY leak ON quotes TO freight_app USING (true)");
    try {
      const result = await runProbeCli(db.urls.app);
      expect(result.code).toBe(1);
      expect(result.output).toMatch(
        /FAIL {2}cross-tenant read quotes: tenant A sees \d+ row\(s\) of other tenants \(1 of them probe tenant B's\); policies reaching freight_app: .*leak TO freight_app USING \(true\)/,
      );
      expect(result.output).toMatch(
        /FAIL {2}cross-tenant update quotes: 1 of B's rows updated from A's context/,
      );
      expect(result.output).toMatch(
        /FAIL {2}cross-tenant delete quotes: 1 of B's rows deleted from A's context/,
      );
      expect(result.output).toMatch(/FAIL {2}table quotes protected: policy leak \(ALL, TO freight_app\)/);
    } finally {
      await asSuperuser("DROP POLICY leak ON quotes");
    }
  });

  it("fails when a policy meant for another role reaches the app role", async () => {
    const findings = await withLeak(
      "ALTER POLICY ops_read ON carrier_invites TO freight_ops, freight_app",
      "ALTER POLICY ops_read ON carrier_invites TO freight_ops",
    );
    expect(failed(findings, "cross-tenant read carrier_invites")).toMatch(
      /tenant A sees \d+ row\(s\) of other tenants \(1 of them probe tenant B's\).*ops_read TO freight_app, freight_ops USING \(true\)/,
    );
    expect(failed(findings, "table carrier_invites protected")).toMatch(/policy ops_read \(SELECT/);
  });

  it("fails when a tenant table is not FORCE'd or has no row-level security at all", async () => {
    const findings = await withLeak(
      `ALTER TABLE bookings NO FORCE ROW LEVEL SECURITY;
       CREATE TABLE shipments (id serial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants,
         reference text NOT NULL, status text NOT NULL CHECK (status IN ('planned', 'moving')),
         pieces integer NOT NULL CHECK (pieces > 0), picked_up_at timestamptz NOT NULL);
       GRANT ALL ON shipments TO freight_app; GRANT USAGE ON SEQUENCE shipments_id_seq TO freight_app`,
      "DROP TABLE shipments; ALTER TABLE bookings FORCE ROW LEVEL SECURITY",
    );
    expect(failed(findings, "table bookings protected")).toMatch(/not FORCE'd, so its owner bypasses it/);
    expect(failed(findings, "table shipments protected")).toMatch(/row-level security is off/);
    // A new table is probed without editing the probe: its row is derived from the catalog.
    expect(failed(findings, "cross-tenant read shipments")).toMatch(
      /tenant A sees 1 row\(s\) of other tenants \(1 of them probe tenant B's\); row-level security is off/,
    );
    expect(failed(findings, "cross-tenant insert shipments")).toMatch(/succeeded from A's context/);
  });

  it("fails when a SECURITY DEFINER function returns every tenant's rows", async () => {
    const findings = await withLeak(
      `CREATE FUNCTION all_quotes() RETURNS SETOF quotes LANGUAGE sql STABLE SECURITY DEFINER AS 'SELECT * FROM quotes';
       GRANT EXECUTE ON FUNCTION all_quotes() TO freight_app`,
      "DROP FUNCTION all_quotes()",
    );
    expect(failed(findings, "function all_quotes() cannot bypass RLS")).toMatch(
      /SECURITY DEFINER and its owner postgres is SUPERUSER/,
    );
    expect(failed(findings, "cross-tenant read function all_quotes()")).toMatch(
      /tenant A gets [1-9]\d* rows of other tenants from it/,
    );
  });

  it("fails when a view reads tenant tables with its owner's rights", async () => {
    const findings = await withLeak(
      "CREATE VIEW quote_totals AS SELECT tenant_id, total_cents FROM quotes; GRANT SELECT ON quote_totals TO freight_app",
      "DROP VIEW quote_totals",
    );
    expect(failed(findings, "view quote_totals uses the caller's rights")).toMatch(
      /reads quotes with its owner's \(postgres\) rights.*security_invoker = true/,
    );
    expect(failed(findings, "cross-tenant read view quote_totals")).toMatch(
      /tenant A sees [1-9]\d* rows of other tenants through it/,
    );
  });

  it("fails when a table without tenant_id holds tenant data through a foreign key", async () => {
    const findings = await withLeak(
      `CREATE TABLE quote_notes (id bigserial PRIMARY KEY, quote_id uuid NOT NULL REFERENCES quotes ON DELETE CASCADE,
         kind text NOT NULL CHECK (kind IN ('internal', 'customer')), note text NOT NULL);
       GRANT ALL ON quote_notes TO freight_app; GRANT USAGE ON SEQUENCE quote_notes_id_seq TO freight_app`,
      "DROP TABLE quote_notes",
    );
    expect(failed(findings, "table quote_notes protected")).toMatch(
      /has no tenant_id and no row-level security, yet holds tenant data through quote_id -> quotes/,
    );
    expect(failed(findings, "cross-tenant read quote_notes")).toMatch(/1 of them probe tenant B's/);
    expect(failed(findings, "cross-tenant delete quote_notes")).toMatch(/1 of B's rows deleted/);
  });

  it("reports a tenant table it cannot write a valid row into as unproven, not as passed", async () => {
    const findings = await withLeak(
      `CREATE TABLE lane_codes (tenant_id uuid NOT NULL REFERENCES tenants, code text NOT NULL CHECK (code ~ '^[A-Z]{3}$'));
       SELECT protect_tenant_table('lane_codes'); GRANT ALL ON lane_codes TO freight_app`,
      "DROP TABLE lane_codes",
    );
    expect(failed(findings, "probe row written into lane_codes")).toMatch(
      /could not write a probe row, so isolation of lane_codes is unproven: .*check constraint/,
    );
    // Everything else still probed: only the table it could not write is reported.
    expect(findings.map((f) => f.check)).toEqual(["probe row written into lane_codes"]);
  });

  it("fails when the app role can bypass row-level security", async () => {
    const findings = await withLeak("ALTER ROLE freight_app BYPASSRLS", "ALTER ROLE freight_app NOBYPASSRLS");
    expect(failed(findings, "role cannot bypass RLS")).toMatch(/ALTER ROLE freight_app NOBYPASSRLS/);
    expect(failed(findings, "cross-tenant read quotes")).toMatch(/1 of them probe tenant B's/);
  });

  it("refuses to run without a database URL", async () => {
    const result = await run(process.execPath, ["app/ops/rls-probe.ts"], {
      env: { ...process.env, DATABASE_URL: "" },
    }).catch((e) => e);
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(
      /Invalid RLS probe configuration \(1 problem\):\n {2}- DATABASE_URL: is required: the app role's connection URL.*--database-url/,
    );
  });
});
