// Post-deploy verification that no tenant can reach another's rows. Run it with the app role's URL:
//   npm run rls-probe -- --database-url postgres://freight_app:...@host:5432/freight
// It checks the catalog (every tenant table under forced RLS with a policy; the role is not
// SUPERUSER or BYPASSRLS and owns no tenant table) and behaviour (two probe tenants; cross-tenant
// read, insert, update and delete all fail), all inside one transaction that is rolled back, so it
// leaves nothing behind. Exit code 0: no leak found; 1: a leak or a weakness (listed); 78: no usable
// database URL (app/env.ts).
import { randomUUID } from "node:crypto";
import pg from "pg";
import { z } from "zod";
import { ConfigError, defineEnv, EX_CONFIG, postgresUrl, type Env } from "../env.ts";

export interface ProbeFinding {
  check: string;
  ok: boolean;
  detail: string;
}

/** Tables whose rows belong to a tenant: they carry tenant_id (or are the tenants table itself). */
const TENANT_TABLES_SQL = `
SELECT c.relname AS table, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       pg_get_userbyid(c.relowner) AS owner,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)::int AS policies
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
   AND (c.relname = 'tenants'
        OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
 ORDER BY c.relname`;

export async function probe(databaseUrl: string): Promise<ProbeFinding[]> {
  const findings: ProbeFinding[] = [];
  const record = (check: string, ok: boolean, detail: string) => findings.push({ check, ok, detail });
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // Catalog: the role itself.
    const role = (
      await client.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }>(
        "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
      )
    ).rows[0];
    if (!role) throw new Error("cannot read the current role from pg_roles");
    record(
      "role is not superuser",
      !role.rolsuper,
      role.rolsuper ? `${role.rolname} is SUPERUSER: RLS does not apply to it` : role.rolname,
    );
    record(
      "role cannot bypass RLS",
      !role.rolbypassrls,
      role.rolbypassrls
        ? `${role.rolname} has BYPASSRLS: ALTER ROLE ${role.rolname} NOBYPASSRLS`
        : role.rolname,
    );

    // Catalog: every tenant table.
    const tables = (
      await client.query<{ table: string; rls: boolean; forced: boolean; owner: string; policies: number }>(
        TENANT_TABLES_SQL,
      )
    ).rows;
    record("tenant tables found", tables.length > 0, `${tables.length} tables with tenant_id`);
    for (const t of tables) {
      const problems: string[] = [];
      if (!t.rls)
        problems.push(`row-level security is off (ALTER TABLE ${t.table} ENABLE ROW LEVEL SECURITY)`);
      if (!t.forced)
        problems.push(
          `not FORCE'd, so its owner bypasses it (ALTER TABLE ${t.table} FORCE ROW LEVEL SECURITY)`,
        );
      if (t.policies === 0) problems.push("has no policy");
      if (t.owner === role.rolname)
        problems.push(`is owned by ${role.rolname}, which could disable its security`);
      record(
        `table ${t.table} protected`,
        problems.length === 0,
        problems.join("; ") || "forced RLS with policies",
      );
    }

    // Behaviour, inside a transaction that is always rolled back.
    await client.query("BEGIN");
    try {
      await behaviour(
        client,
        tables.map((t) => t.table),
        record,
      );
    } finally {
      await client.query("ROLLBACK");
    }
  } finally {
    await client.end();
  }
  return findings;
}

async function behaviour(
  client: pg.Client,
  tenantTables: string[],
  record: (check: string, ok: boolean, detail: string) => void,
): Promise<void> {
  const a = randomUUID();
  const b = randomUUID();
  const as = (tenant: string | null) =>
    client.query("SELECT set_config('app.tenant_id', $1, true)", [tenant ?? ""]);
  const plan = (await client.query<{ id: string }>("SELECT id FROM plans ORDER BY rank LIMIT 1")).rows[0]?.id;
  if (!plan) {
    record(
      "probe tenants created",
      false,
      "no plan exists to create probe tenants on; seed the plan catalogue first",
    );
    return;
  }
  // Tenant rows and one quote per tenant, each written in its own context (as signup and the API do).
  for (const [tenant, slug] of [
    [a, `rls-probe-a-${a.slice(0, 8)}`],
    [b, `rls-probe-b-${b.slice(0, 8)}`],
  ] as const) {
    await as(tenant);
    await client.query("INSERT INTO tenants (id, slug, name, plan_id) VALUES ($1, $2, 'RLS probe', $3)", [
      tenant,
      slug,
      plan,
    ]);
    await client.query(
      `INSERT INTO quotes (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles,
         linehaul_cents, fuel_surcharge_cents, margin_cents, total_cents, breakdown, pricing_version, expires_at)
       VALUES ($1, 'Chicago, IL', 'Dallas, TX', 'dry_van', 1000, current_date, 1, 1, 1, 1, 3, '{}', 'probe', now())`,
      [tenant],
    );
  }

  // Read: tenant A sees none of B's rows in any tenant table, and no context sees nothing at all.
  await as(a);
  for (const table of tenantTables) {
    const column = table === "tenants" ? "id" : "tenant_id";
    const seen = await client.query(
      `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(table)} WHERE ${column} = $1`,
      [b],
    );
    const n = (seen.rows[0] as { n: number }).n;
    record(
      `cross-tenant read ${table}`,
      n === 0,
      n === 0 ? "tenant A sees none of B's rows" : `tenant A sees ${n} of B's rows`,
    );
  }
  await as(null);
  const anonymous = await client.query("SELECT count(*)::int AS n FROM quotes");
  const anon = (anonymous.rows[0] as { n: number }).n;
  record("read without tenant context", anon === 0, anon === 0 ? "sees nothing" : `sees ${anon} quotes`);

  // Insert into B's space from A's context must be refused by the policy's WITH CHECK.
  await as(a);
  await expectRefused(client, record, "cross-tenant insert", () =>
    client.query(
      `INSERT INTO quotes (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles,
         linehaul_cents, fuel_surcharge_cents, margin_cents, total_cents, breakdown, pricing_version, expires_at)
       VALUES ($1, 'Chicago, IL', 'Dallas, TX', 'dry_van', 1000, current_date, 1, 1, 1, 1, 3, '{}', 'probe', now())`,
      [b],
    ),
  );
  // Moving one's own row into B's space must be refused too.
  await expectRefused(client, record, "cross-tenant update moving a row", () =>
    client.query("UPDATE quotes SET tenant_id = $1 WHERE tenant_id = $2", [b, a]),
  );
  await expectNoEffect(client, record, "cross-tenant update", "quotes updated", () =>
    client.query("UPDATE quotes SET total_cents = 0 WHERE tenant_id = $1", [b]),
  );
  await expectNoEffect(client, record, "cross-tenant delete", "quotes deleted", () =>
    client.query("DELETE FROM quotes WHERE tenant_id = $1", [b]),
  );
  await expectNoEffect(client, record, "cross-tenant tenant update", "tenant rows updated", () =>
    client.query("UPDATE tenants SET name = 'taken over' WHERE id = $1", [b]),
  );

  // B's rows are intact when read as B.
  await as(b);
  const own = await client.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM quotes WHERE total_cents = 3",
  );
  record("own rows intact", own.rows[0]?.n === 1, `tenant B sees ${own.rows[0]?.n} of its 1 quote unchanged`);
}

/** The statement must either be refused or touch none of the other tenant's rows. */
async function expectNoEffect(
  client: pg.Client,
  record: (check: string, ok: boolean, detail: string) => void,
  check: string,
  what: string,
  attempt: () => Promise<pg.QueryResult>,
): Promise<void> {
  await client.query("SAVEPOINT probe_attempt");
  try {
    const result = await attempt();
    await client.query("RELEASE SAVEPOINT probe_attempt");
    record(check, result.rowCount === 0, `${result.rowCount} of B's ${what} from A's context`);
  } catch (error) {
    await client.query("ROLLBACK TO SAVEPOINT probe_attempt");
    const message = (error as Error).message;
    const refused = /row-level security|permission denied/i.test(message);
    record(check, refused, refused ? `refused: ${message}` : `failed for another reason: ${message}`);
  }
}

async function expectRefused(
  client: pg.Client,
  record: (check: string, ok: boolean, detail: string) => void,
  check: string,
  attempt: () => Promise<unknown>,
): Promise<void> {
  await client.query("SAVEPOINT probe_attempt");
  try {
    await attempt();
    record(check, false, "the statement succeeded: row-level security did not refuse it");
    await client.query("RELEASE SAVEPOINT probe_attempt");
  } catch (error) {
    await client.query("ROLLBACK TO SAVEPOINT probe_attempt");
    const message = (error as Error).message;
    const refused = /row-level security|permission denied/i.test(message);
    record(check, refused, refused ? `refused: ${message}` : `failed for another reason: ${message}`);
  }
}

export function report(findings: ProbeFinding[]): string {
  const failed = findings.filter((f) => !f.ok);
  const lines = findings.map((f) => `${f.ok ? "ok  " : "FAIL"}  ${f.check}: ${f.detail}`);
  lines.push(
    failed.length
      ? `\n${failed.length} of ${findings.length} checks FAILED: tenant isolation is not guaranteed. Fix the items marked FAIL, then rerun.`
      : `\nAll ${findings.length} checks passed: no cross-tenant access found.`,
  );
  return lines.join("\n");
}

export const rlsProbeEnv = defineEnv({
  process: "RLS probe",
  schema: z.object({
    DATABASE_URL: postgresUrl(
      "the app role's connection URL, not an admin's (or pass it as npm run rls-probe -- --database-url <url>)",
      "postgres://freight_app:...@host:5432/freight",
    ),
  }),
});

/** The probe's configuration from `env`; throws ConfigError listing every problem. */
export function parseRlsProbeConfig(env: Env): { DATABASE_URL: string } {
  return rlsProbeEnv.parse(env);
}

async function main(): Promise<number> {
  // --database-url stands in for the variable, and is checked the same way.
  const index = process.argv.indexOf("--database-url");
  const env = index > 0 ? { ...process.env, DATABASE_URL: process.argv[index + 1] } : process.env;
  let url: string;
  try {
    url = parseRlsProbeConfig(env).DATABASE_URL;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return EX_CONFIG;
  }
  try {
    const findings = await probe(url);
    console.log(report(findings));
    return findings.every((f) => f.ok) ? 0 : 1;
  } catch (error) {
    console.error(`rls-probe could not complete: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) process.exitCode = await main();
