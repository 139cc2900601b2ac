// Post-deploy proof that no tenant can reach another's rows. Run it with the app role's URL:
//   npm run rls-probe -- --database-url postgres://freight_app:...@host:5432/freight
// It proves isolation by behaviour on every tenant table the catalog shows (a tenant_id column, the
// tenants table, or a foreign key into one of them), so a new table is covered without editing the probe:
// as two probe tenants A and B it writes a row of B's into each table (app/ops/probe-rows.ts derives the
// values), then as A reads, updates, deletes and inserts across, and as nobody reads; it also reads every
// view over tenant tables and every row-returning SECURITY DEFINER function without arguments. The catalog
// adds what behaviour alone cannot show: RLS off or not FORCE'd, unconditional policies that reach this
// role, owner's-rights views and definer functions. All inside one transaction that is rolled back, so it
// leaves nothing behind. Exit code 0: no leak found; 1: a leak or a weakness (listed); 78: no usable
// database URL (app/env.ts).
import { randomUUID } from "node:crypto";
import pg from "pg";
import { z } from "zod";
import { ConfigError, defineEnv, EX_CONFIG, postgresUrl, type Env } from "../env.ts";
import { isOpen, readCatalog, type Catalog, type TenantTable } from "./rls-catalog.ts";
import { ProbeRows, type Row } from "./probe-rows.ts";

export interface ProbeFinding {
  check: string;
  ok: boolean;
  detail: string;
}

type Recorder = (check: string, ok: boolean, detail: string) => void;

export async function probe(databaseUrl: string): Promise<ProbeFinding[]> {
  const findings: ProbeFinding[] = [];
  const record: Recorder = (check, ok, detail) => findings.push({ check, ok, detail });
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("BEGIN");
    try {
      const catalog = await readCatalog(client);
      catalogChecks(catalog, record);
      await behaviour(client, catalog, record);
    } finally {
      await client.query("ROLLBACK");
    }
  } finally {
    await client.end();
  }
  return findings;
}

function catalogChecks(catalog: Catalog, record: Recorder): void {
  const { role } = catalog;
  record(
    "role is not superuser",
    !role.superuser,
    role.superuser ? `${role.name} is SUPERUSER: RLS does not apply to it` : role.name,
  );
  record(
    "role cannot bypass RLS",
    !role.bypassRls,
    role.bypassRls ? `${role.name} has BYPASSRLS: ALTER ROLE ${role.name} NOBYPASSRLS` : role.name,
  );
  const direct = catalog.tables.filter((t) => t.kind !== "foreign_key").length;
  record("tenant tables found", direct > 0, `${catalog.tables.length} tables hold tenant rows`);
  for (const t of catalog.tables) {
    const problems: string[] = [];
    if (t.kind === "foreign_key" && !t.rls)
      problems.push(
        `has no tenant_id and no row-level security, yet holds tenant data through ${t.via?.columns.join(", ")} -> ${t.via?.parent}: add tenant_id and protect it like every tenant table`,
      );
    else if (!t.rls)
      problems.push(`row-level security is off (ALTER TABLE ${t.name} ENABLE ROW LEVEL SECURITY)`);
    if (!t.forced)
      problems.push(`not FORCE'd, so its owner bypasses it (ALTER TABLE ${t.name} FORCE ROW LEVEL SECURITY)`);
    if (t.rls && t.policies === 0) problems.push("has no policy");
    if (t.owner === role.name) problems.push(`is owned by ${role.name}, which could disable its security`);
    for (const p of catalog.applicablePolicies.filter((x) => x.table === t.name)) {
      const open = p.command === "INSERT" ? isOpen(p.withCheck) : isOpen(p.using);
      if (open)
        problems.push(
          `policy ${p.name} (${p.command}, TO ${p.roles.join(", ")}) lets ${role.name} through every tenant's rows: USING (${p.using ?? p.withCheck ?? "true"})`,
        );
    }
    record(
      `table ${t.name} protected`,
      problems.length === 0,
      problems.join("; ") || "forced RLS with policies",
    );
  }
  for (const v of catalog.views) {
    const ok = v.securityInvoker;
    record(
      `view ${v.name} uses the caller's rights`,
      ok,
      ok
        ? `security_invoker, reads ${v.reads.join(", ") || "tenant rows"}`
        : `reads ${v.reads.join(", ")} with its owner's (${v.owner}) rights, not the caller's: ALTER VIEW ${v.name} SET (security_invoker = true)`,
    );
  }
  for (const f of catalog.definers) {
    record(
      `function ${f.signature} cannot bypass RLS`,
      f.ownerBypass === null,
      f.ownerBypass
        ? `SECURITY DEFINER and ${f.ownerBypass}: it reads across tenants for ${role.name}; make it SECURITY INVOKER or revoke EXECUTE`
        : `SECURITY DEFINER, owner ${f.owner} is bound by row-level security`,
    );
  }
}

async function behaviour(client: pg.Client, catalog: Catalog, record: Recorder): Promise<void> {
  const a = randomUUID();
  const b = randomUUID();
  const slugs = new Map([
    [a, `rls-probe-a-${a.slice(0, 8)}`],
    [b, `rls-probe-b-${b.slice(0, 8)}`],
  ]);
  const rows = new ProbeRows(client, catalog.tables);

  // B's row (and A's, for the move check) in every table the role may write, parents first.
  const ofB = new Map<string, Row>();
  const ofA = new Map<string, Row>();
  for (const t of catalog.tables) {
    if (!t.canInsert) continue;
    for (const [tenant, into] of [
      [b, ofB],
      [a, ofA],
    ] as const) {
      await client.query("SAVEPOINT probe_write");
      const written = rows.checkpoint();
      try {
        into.set(t.name, await rows.ensure(t.name, tenant, slugs.get(tenant) as string));
        await client.query("RELEASE SAVEPOINT probe_write");
      } catch (error) {
        await client.query("ROLLBACK TO SAVEPOINT probe_write");
        rows.forgetSince(written); // parents written in this attempt are rolled back too
        record(
          `probe row written into ${t.name}`,
          false,
          `could not write a probe row, so isolation of ${t.name} is unproven: ${(error as Error).message}`,
        );
        break;
      }
    }
  }

  for (const t of catalog.tables) {
    if (!t.canSelect) continue;
    const predicateB = ownedBy(t, ofB.get(t.name), b);
    // Read: from A's context no row of another tenant (B's probe row or any real tenant's) is visible.
    await rows.as(a);
    const others = otherTenants(t, a);
    const params = renumber(predicateB, others);
    const seen = await attempt(client, () =>
      client.query<{ of_b: number; others: number }>(
        `SELECT count(*) FILTER (WHERE ${predicateB?.sql ?? "false"})::int AS of_b,
                count(*) FILTER (WHERE ${others.sql})::int AS others
           FROM ${pg.escapeIdentifier(t.name)}`,
        params,
      ),
    );
    if (!seen.ok) record(`cross-tenant read ${t.name}`, false, `could not read: ${seen.error}`);
    else {
      const counts = seen.value.rows[0] as { of_b: number; others: number };
      const leaked = Math.max(counts.of_b, counts.others);
      record(
        `cross-tenant read ${t.name}`,
        leaked === 0,
        leaked === 0
          ? "tenant A sees no other tenant's rows"
          : `tenant A sees ${leaked} row(s) of other tenants (${counts.of_b} of them probe tenant B's)${why(catalog, t)}`,
      );
    }
    // Read without any tenant context: nothing at all.
    await rows.as(null);
    const anonymous = await attempt(client, () =>
      client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(t.name)}`),
    );
    const anon = anonymous.ok ? (anonymous.value.rows[0]?.n ?? 0) : null;
    record(
      `read ${t.name} without tenant context`,
      anon === 0,
      anon === 0 ? "sees nothing" : anonymous.ok ? `sees ${anon} rows` : `could not read: ${anonymous.error}`,
    );
    if (!predicateB || !ofB.has(t.name)) continue;

    await rows.as(a);
    const target = pg.escapeIdentifier(t.name);
    const settable = t.columns.find((c) => c.updatable && !c.generated);
    if (t.canUpdate && settable) {
      const col = pg.escapeIdentifier(settable.name);
      await expectNoEffect(client, record, `cross-tenant update ${t.name}`, "rows updated", () =>
        client.query(`UPDATE ${target} SET ${col} = ${col} WHERE ${predicateB.sql}`, predicateB.params),
      );
    }
    if (t.canDelete)
      await expectNoEffect(client, record, `cross-tenant delete ${t.name}`, "rows deleted", () =>
        client.query(`DELETE FROM ${target} WHERE ${predicateB.sql}`, predicateB.params),
      );
    if (t.canInsert && t.kind !== "tenants") {
      // A row in B's space (tenant_id B, or a child of B's parent row), written from A's context.
      await expectRefused(client, record, `cross-tenant insert ${t.name}`, async () =>
        rows.insert(t, await rows.values(t, b, slugs.get(b) as string).finally(() => rows.as(a))),
      );
    }
    const tenantColumn = t.columns.find((c) => c.name === "tenant_id" && c.updatable);
    const ownRow = ofA.get(t.name);
    if (tenantColumn && ownRow) {
      await rows.as(a);
      await expectRefused(client, record, `cross-tenant move ${t.name}`, () =>
        client.query(`UPDATE ${target} SET tenant_id = $1 WHERE tenant_id = $2`, [b, a]),
      );
    }
  }

  // Views and row-returning definer functions: nothing of another tenant through them either.
  await rows.as(a);
  for (const v of catalog.views.filter((x) => x.hasTenantId)) {
    const result = await attempt(client, () =>
      client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(v.name)} WHERE tenant_id IS DISTINCT FROM $1`,
        [a],
      ),
    );
    const n = result.ok ? (result.value.rows[0]?.n ?? 0) : null;
    record(
      `cross-tenant read view ${v.name}`,
      n === 0,
      n === 0
        ? "tenant A sees no other tenant's rows"
        : !result.ok
          ? `could not read: ${result.error}`
          : `tenant A sees ${n} rows of other tenants through it (owner ${v.owner}${v.securityInvoker ? "" : ", owner's rights"})`,
    );
  }
  for (const f of catalog.definers.filter((x) => x.arguments === 0 && x.returnsSet)) {
    const result = await attempt(client, () =>
      client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${f.signature.replace(/\(\)$/, "")}() AS r WHERE r.tenant_id IS DISTINCT FROM $1`,
        [a],
      ),
    );
    if (!result.ok) continue; // not a tenant-row function: the catalog check above still judges it
    const n = result.value.rows[0]?.n ?? 0;
    record(
      `cross-tenant read function ${f.signature}`,
      n === 0,
      n === 0 ? "tenant A gets no other tenant's rows" : `tenant A gets ${n} rows of other tenants from it`,
    );
  }
}

interface Predicate {
  sql: string;
  params: unknown[];
}

/** Which rows of the table are the probe tenant B's: its tenant_id, its own id, or B's parent row. */
function ownedBy(t: TenantTable, row: Row | undefined, b: string): Predicate | null {
  if (t.kind === "tenant_id") return { sql: "tenant_id = $1", params: [b] };
  if (t.kind === "tenants") return { sql: "id = $1", params: [b] };
  if (!row || !t.via) return null;
  const via = t.via;
  return {
    sql: via.columns.map((c, i) => `${pg.escapeIdentifier(c)}::text = $${i + 1}`).join(" AND "),
    params: via.columns.map((c) => String(row[c])),
  };
}

/** Rows that are not tenant A's (for tables that name their tenant directly). */
function otherTenants(t: TenantTable, a: string): Predicate {
  if (t.kind === "tenant_id") return { sql: "tenant_id IS DISTINCT FROM $X", params: [a] };
  if (t.kind === "tenants") return { sql: "id IS DISTINCT FROM $X", params: [a] };
  return { sql: "false", params: [] };
}

/** Joins two predicates' parameters into one numbering (the second's $X follows the first's). */
function renumber(first: Predicate | null, second: Predicate): unknown[] {
  const offset = first?.params.length ?? 0;
  second.sql = second.sql.replace("$X", `$${offset + 1}`);
  return [...(first?.params ?? []), ...second.params];
}

/** The policies that let the probing role read the table's rows, to name in a leak report. */
function why(catalog: Catalog, t: TenantTable): string {
  const open = catalog.applicablePolicies.filter(
    (p) => p.table === t.name && (p.command === "ALL" || p.command === "SELECT"),
  );
  if (!t.rls) return "; row-level security is off";
  return open.length
    ? `; policies reaching ${catalog.role.name}: ${open.map((p) => `${p.name} TO ${p.roles.join(", ")} USING (${p.using})`).join("; ")}`
    : "";
}

async function attempt<T>(
  client: pg.Client,
  run: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  await client.query("SAVEPOINT probe_attempt");
  try {
    const value = await run();
    await client.query("RELEASE SAVEPOINT probe_attempt");
    return { ok: true, value };
  } catch (error) {
    await client.query("ROLLBACK TO SAVEPOINT probe_attempt");
    return { ok: false, error: (error as Error).message };
  }
}

/** The statement must either be refused or touch none of the other tenant's rows; undone either way. */
async function expectNoEffect(
  client: pg.Client,
  record: Recorder,
  check: string,
  what: string,
  run: () => Promise<pg.QueryResult>,
): Promise<void> {
  await client.query("SAVEPOINT probe_attempt");
  try {
    const result = await run();
    record(check, result.rowCount === 0, `${result.rowCount} of B's ${what} from A's context`);
  } catch (error) {
    const message = (error as Error).message;
    const refused = /row-level security|permission denied/i.test(message);
    record(check, refused, refused ? `refused: ${message}` : `failed for another reason: ${message}`);
  } finally {
    await client.query("ROLLBACK TO SAVEPOINT probe_attempt");
  }
}

/** The statement must be refused by row-level security (or a missing privilege); undone either way. */
async function expectRefused(
  client: pg.Client,
  record: Recorder,
  check: string,
  run: () => Promise<unknown>,
): Promise<void> {
  await client.query("SAVEPOINT probe_attempt");
  try {
    await run();
    record(check, false, "the statement succeeded from A's context: row-level security did not refuse it");
  } catch (error) {
    const message = (error as Error).message;
    const refused = /row-level security|permission denied/i.test(message);
    record(check, refused, refused ? `refused: ${message}` : `failed for another reason: ${message}`);
  } finally {
    await client.query("ROLLBACK TO SAVEPOINT probe_attempt");
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
  secrets: ["DATABASE_URL"],
});

/** The probe's configuration from `env`; throws ConfigError listing every problem. */
export function parseRlsProbeConfig(env: Env): { DATABASE_URL: string } {
  return rlsProbeEnv.parse(env);
}

async function main(): Promise<number> {
  // --database-url stands in for the variable, and is checked the same way.
  const index = process.argv.indexOf("--database-url");
  const env =
    index > 0
      ? { ...process.env, DATABASE_URL: process.argv[index + 1], DATABASE_URL_FILE: undefined }
      : process.env;
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
