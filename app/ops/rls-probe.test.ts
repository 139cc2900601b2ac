import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { probe } from "./rls-probe.ts";

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
  it("passes on the migrated schema and leaves nothing behind", async () => {
    const result = await runProbeCli(db.urls.app);
    expect(result.output).toMatch(/All \d+ checks passed/);
    expect(result.code).toBe(0);
    expect(result.output).toMatch(/ok {4}cross-tenant insert: refused/);
    const ops = new pg.Client({ connectionString: db.urls.ops });
    await ops.connect();
    const { rows } = await ops.query("SELECT count(*)::int AS n FROM tenants WHERE slug LIKE 'rls-probe-%'");
    await ops.end();
    expect(rows[0].n).toBe(0);
  });

  it("fails when a policy lets a tenant read everyone's quotes", async () => {
    await asSuperuser("CREATE POLICY leak ON quotes TO freight_app USING (true)");
    try {
      const result = await runProbeCli(db.urls.app);
      expect(result.code).toBe(1);
      expect(result.output).toMatch(/FAIL {2}cross-tenant read quotes: tenant A sees 1 of B's rows/);
      expect(result.output).toMatch(
        /FAIL {2}cross-tenant update: [1-9]\d* of B's quotes updated from A's context/,
      );
    } finally {
      await asSuperuser("DROP POLICY leak ON quotes");
    }
  });

  it("fails when the app role can bypass row-level security", async () => {
    await asSuperuser("ALTER ROLE freight_app BYPASSRLS");
    try {
      const findings = await probe(db.urls.app);
      expect(findings.find((f) => f.check === "role cannot bypass RLS")?.ok).toBe(false);
    } finally {
      await asSuperuser("ALTER ROLE freight_app NOBYPASSRLS");
    }
  });

  it("fails when a tenant table is not under forced row-level security", async () => {
    await asSuperuser(
      "CREATE TABLE shipments (id serial PRIMARY KEY, tenant_id uuid NOT NULL); GRANT ALL ON shipments TO freight_app",
    );
    await asSuperuser("ALTER TABLE bookings NO FORCE ROW LEVEL SECURITY");
    try {
      const findings = await probe(db.urls.app);
      const failed = findings.filter((f) => !f.ok).map((f) => f.check);
      expect(failed).toEqual(["table bookings protected", "table shipments protected"]);
    } finally {
      await asSuperuser("DROP TABLE shipments; ALTER TABLE bookings FORCE ROW LEVEL SECURITY");
    }
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
