// The tenant sweep on a real kube-apiserver and PostgreSQL, run by the manager process as the stacks
// configure it: Tenants deleted without the finalizer while no operator ran are offboarded once the
// operator is back (disabled, API keys disabled, one data export each) and nothing else is touched;
// a sweep that would offboard a large share of the tenants refuses instead.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../../../app/db/pool.ts";
import { provisionTenant } from "../../../app/db/seed.ts";
import { plans, tenants } from "../../api/resources.ts";
import {
  applyAs,
  deleteIfExists,
  metricValue,
  startOperator,
  startOperatorPlatform,
  TENANT_NAMESPACE,
  waitFor,
  type OperatorPlatform,
  type OperatorProcess,
} from "../../../tools/platform/operators.ts";

let platform: OperatorPlatform;
let db: pg.Pool;
let operator: OperatorProcess | undefined;

const slugs = Array.from({ length: 12 }, (_, i) => `sweep-${String(i).padStart(2, "0")}`);
const leaked = slugs.slice(0, 2);

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return Number((await db.query(sql, params)).rows[0].n);
}

const enabled = (prefix: string) =>
  count("SELECT count(*) AS n FROM tenants WHERE slug LIKE $1 AND disabled_at IS NULL", [`${prefix}%`]);

function startManager(): Promise<OperatorProcess> {
  return startOperator({
    kubeconfigPath: platform.cluster.kubeconfigPath,
    databaseUrl: platform.db.urls.operator,
    env: { LOG_LEVEL: "info", USAGE_REFRESH_SECONDS: "3600", TENANT_SWEEP_SECONDS: "2" },
  });
}

beforeAll(async () => {
  platform = await startOperatorPlatform("tenant-sweep");
  db = createPool(platform.db.urls.operator, 2);
}, 1_800_000);

afterAll(async () => {
  await operator?.stop();
  await db?.end();
  await platform?.stop();
});

describe("tenant sweep", () => {
  it("offboards tenants deleted without the finalizer while the operator was down, and only them", async () => {
    await applyAs(platform.admin, plans, {
      kind: "Plan",
      metadata: { name: "sweep" },
      spec: {
        displayName: "Sweep",
        rank: 1,
        meters: [{ name: "quotes", included: 100, overageAllowed: false, hardCeiling: 200 }],
        rateLimits: { requestsPerSecond: 10, burst: 20, bulkJobConcurrency: 2 },
      },
    });
    for (const name of slugs)
      await applyAs(platform.admin, tenants, {
        kind: "Tenant",
        metadata: { name, namespace: TENANT_NAMESPACE },
        spec: { plan: "sweep" },
      });
    operator = await startManager();
    await waitFor("every tenant provisioned", async () => (await enabled("sweep-")) === slugs.length, {
      timeoutMs: 120_000,
    });
    // A live API key on a tenant about to leak: the sweep must disable it.
    const { rows } = await db.query<{ id: string }>("SELECT id FROM tenants WHERE slug = $1", [leaked[0]]);
    await db.query(
      "INSERT INTO api_keys (tenant_id, key_prefix, key_hash, label) VALUES ($1, 'sweeptest', '\\x00', 'ci')",
      [rows[0]!.id],
    );

    // The operator goes away; meanwhile two Tenants are deleted without the finalizer holding them
    // (removed by hand, as a delete that beat the finalizer leaves them).
    await operator.stop();
    operator = undefined;
    for (const name of leaked) {
      await platform.admin.mergePatch(
        tenants,
        name,
        { metadata: { finalizers: null } },
        {
          namespace: TENANT_NAMESPACE,
        },
      );
      await deleteIfExists(platform.admin, tenants, name, TENANT_NAMESPACE);
    }
    expect(await enabled("sweep-")).toBe(slugs.length); // the leak: still enabled

    operator = await startManager();
    await waitFor(
      "the deleted tenants offboarded",
      async () => (await enabled("sweep-")) === slugs.length - 2,
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
    const { rows: swept } = await db.query<{ slug: string; exports: number; keys: number }>(
      `SELECT t.slug,
              (SELECT count(*) FROM agent_tasks a WHERE a.tenant_id = t.id AND a.kind = 'data_export')::int AS exports,
              (SELECT count(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.disabled_at IS NULL)::int AS keys
         FROM tenants t WHERE t.disabled_at IS NOT NULL ORDER BY t.slug`,
    );
    expect(swept).toEqual(leaked.map((slug) => ({ slug, exports: 1, keys: 0 })));
    expect(await metricValue(operator.probeUrl, "tenant_sweep_offboarded_total")).toBe(2);
    expect(operator.logs()).toContain("tenant sweep: offboarded 2 tenant(s)");

    // Later sweeps find nothing more to do and offboard nothing twice.
    const runs = await metricValue(operator.probeUrl, "tenant_sweep_runs_total", { result: "clean" });
    await waitFor(
      "two more sweeps",
      async () =>
        (await metricValue(operator!.probeUrl, "tenant_sweep_runs_total", { result: "clean" })) >= runs + 2,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(await count("SELECT count(*) AS n FROM agent_tasks WHERE kind = 'data_export'")).toBe(2);
    expect(await metricValue(operator.probeUrl, "tenant_sweep_offboarded_total")).toBe(2);
  }, 600_000);

  it("refuses to offboard more than a quarter of the tenants at once, and says why", async () => {
    operator ??= await startManager();
    // Rows a control plane declared whose Tenant objects this cluster does not hold (the wrong
    // cluster, CRDs reinstalled): more than the ten live ones a quarter allows.
    for (let i = 0; i < 5; i++)
      await provisionTenant(db, { slug: `undeclared-${i}`, name: `Undeclared ${i}`, planId: "sweep" });
    await db.query("UPDATE tenants SET declared = true WHERE slug LIKE 'undeclared-%'");
    await waitFor(
      "a refused sweep",
      async () =>
        (await metricValue(operator!.probeUrl, "tenant_sweep_runs_total", { result: "refused" })) >= 1,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(await enabled("undeclared-")).toBe(5);
    expect(await enabled("sweep-")).toBe(slugs.length - 2);
    expect(operator.logs()).toMatch(/tenant sweep refused: 5 of 15 enabled tenants have no Tenant object/);
  }, 120_000);

  it("never sweeps a tenant no Tenant object declared (the local platform's demo seed)", async () => {
    await db.query("UPDATE tenants SET disabled_at = now() WHERE slug LIKE 'undeclared-%'");
    operator ??= await startManager();
    await provisionTenant(db, { slug: "seeded-demo", name: "Seeded demo", planId: "sweep" });
    const runs = await metricValue(operator.probeUrl, "tenant_sweep_runs_total", { result: "clean" });
    await waitFor(
      "two clean sweeps",
      async () =>
        (await metricValue(operator!.probeUrl, "tenant_sweep_runs_total", { result: "clean" })) >= runs + 2,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(await enabled("seeded-demo")).toBe(1);
  }, 120_000);
});
