// The tenant controller end to end: the real manager process against a real API server and a
// real PostgreSQL, checked through what users see (kubectl-visible status and Events) and what the
// app enforces (its own metering code, as the app role under row-level security).
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, withTenant } from "../../../app/db/pool.ts";
import { Authenticator, generateApiKey } from "../../../app/http/auth.ts";
import { consume } from "../../../app/metering/meter.ts";
import { TENANT_FINALIZER } from "../../api/group.ts";
import type { Plan } from "../../api/plan.ts";
import { plans, tenants } from "../../api/resources.ts";
import type { Tenant } from "../../api/tenant.ts";
import { builtin, isConflict, KubeApiError } from "../../runtime/kube.ts";
import {
  applyAs,
  startOperator,
  startOperatorPlatform,
  TENANT_NAMESPACE,
  waitFor,
  type OperatorPlatform,
  type OperatorProcess,
} from "../../../tools/platform/operators.ts";

let platform: OperatorPlatform;
let operator: OperatorProcess;
let operatorDb: pg.Pool;
let appDb: pg.Pool;

const plan = (name: string, rank: number, quotes: Partial<Plan["spec"]["meters"][number]> = {}) => ({
  kind: "Plan",
  metadata: { name },
  spec: {
    displayName: name,
    rank,
    monthlyPriceCents: 9900,
    meters: [
      { name: "quotes", included: 3, overageAllowed: false, hardCeiling: 3, ...quotes },
      { name: "bulk_jobs", included: 2, overageAllowed: false, hardCeiling: 2 },
    ],
    rateLimits: { requestsPerSecond: 5, burst: 10, bulkJobConcurrency: 1 },
  },
});

const tenant = (name: string, planName: string, extra: Partial<Tenant["spec"]> = {}) => ({
  kind: "Tenant",
  metadata: { name, namespace: TENANT_NAMESPACE },
  spec: { displayName: name, plan: planName, ...extra },
});

const getTenant = (name: string) => platform.admin.get<Tenant>(tenants, name, TENANT_NAMESPACE);
const condition = (t: Tenant, type: string) => t.status?.conditions?.find((c) => c.type === type);

async function tenantId(slug: string): Promise<string> {
  return waitFor(`tenant row ${slug}`, async () => {
    const { rows } = await operatorDb.query<{ id: string }>("SELECT id FROM tenants WHERE slug = $1", [slug]);
    return rows[0]?.id;
  });
}

async function entitlement(slug: string, meter: string) {
  const { rows } = await operatorDb.query(
    `SELECT e.included, e.hard_ceiling, e.overage_allowed, e.overage_unit_price_cents, e.source, e.updated_at
       FROM entitlements e JOIN tenants t ON t.id = e.tenant_id WHERE t.slug = $1 AND e.meter = $2`,
    [slug, meter],
  );
  return rows[0] as { included: number; hard_ceiling: number; source: string; updated_at: Date } | undefined;
}

async function events(name: string, reason: string) {
  const list = await platform.admin.request<{
    items: { reason: string; note: string; regarding: { name: string } }[];
  }>("GET", platform.admin.path(builtin.events, TENANT_NAMESPACE));
  return list.items.filter((e) => e.regarding.name === name && e.reason === reason);
}

beforeAll(async () => {
  platform = await startOperatorPlatform("tenant-controller");
  operatorDb = createPool(platform.db.urls.operator, 4);
  appDb = createPool(platform.db.urls.app, 4);
  operator = await startOperator({
    kubeconfigPath: platform.cluster.kubeconfigPath,
    databaseUrl: platform.db.urls.operator,
    env: { USAGE_REFRESH_SECONDS: "1", LOG_LEVEL: process.env.DEBUG_OPERATOR_LOGS ? "debug" : "info" },
  });
}, 1_800_000);

afterAll(async () => {
  if (process.env.DEBUG_OPERATOR_LOGS)
    (await import("node:fs")).writeFileSync(process.env.DEBUG_OPERATOR_LOGS, operator?.logs() ?? "");
  await operator?.stop();
  await operatorDb?.end();
  await appDb?.end();
  await platform?.stop();
});

describe("tenant controller", () => {
  it("provisions a tenant from its plan, and a plan change reaches the app's enforcement", async () => {
    await applyAs(platform.admin, plans, plan("starter", 1));
    await applyAs(platform.admin, tenants, tenant("acme", "starter"));

    const ready = await waitFor("acme Ready", async () => {
      const t = await getTenant("acme");
      return condition(t, "Ready")?.status === "True" ? t : undefined;
    });
    expect(ready.metadata.finalizers).toContain(TENANT_FINALIZER);
    expect(ready.status?.entitlements?.find((e) => e.meter === "quotes")).toMatchObject({
      included: 3,
      hardCeiling: 3,
      source: "plan",
    });
    const id = await tenantId("acme");
    expect(ready.status?.tenantId).toBe(id);

    // The app's own metering, as the app role: 3 quotes admitted, the 4th denied by the plan's ceiling.
    const quote = () => withTenant(appDb, id, (db) => consume(db, "quotes"));
    for (let i = 0; i < 3; i++) expect((await quote()).decision).toBe("admitted");
    expect((await quote()).decision).toBe("denied");

    // Raise the plan: the same request is admitted, with no one touching the database.
    await applyAs(
      platform.admin,
      plans,
      plan("starter", 1, { included: 3, hardCeiling: 10, overageAllowed: true, overageUnitPriceCents: 7 }),
    );
    await waitFor("ceiling raised", async () => (await entitlement("acme", "quotes"))?.hard_ceiling === 10);
    expect((await quote()).decision).toBe("overage");
  });

  it("mirrors a Plan's features and a Tenant's residency to what the app authenticates with", async () => {
    const withFeatures = (features: Plan["spec"]["features"]) => ({
      ...plan("featured", 7),
      spec: { ...plan("featured", 7).spec, features },
    });
    await applyAs(
      platform.admin,
      plans,
      withFeatures({ directorySearch: false, contracts: true, sso: false }),
    );
    await applyAs(
      platform.admin,
      tenants,
      tenant("pinned", "featured", { dataResidencyRegion: "us-west-2" }),
    );
    const id = await tenantId("pinned");
    const key = generateApiKey("live");
    await operatorDb.query(
      "INSERT INTO api_keys (tenant_id, key_prefix, key_hash) VALUES ($1, $2, decode($3, 'hex'))",
      [id, key.prefix, key.hash],
    );
    // The app role's own authentication (no cache): features and residency come with the key.
    const principal = () => new Authenticator(appDb, 0).authenticate(key.key);
    const features = async () => [...(await principal()).features].sort();
    await waitFor("features mirrored", async () =>
      (await features()).join() === "contracts,spotQuotes" ? true : undefined,
    );
    expect((await principal()).dataResidencyRegion).toBe("us-west-2");

    // Taking a feature away and adding another reaches the app without anyone touching the database;
    // a base feature not mentioned is on (the CRD's default).
    await applyAs(platform.admin, plans, withFeatures({ bulkRating: true }));
    await waitFor("features changed", async () =>
      (await features()).join() === "bulkRating,directorySearch,spotQuotes" ? true : undefined,
    );
  });

  it("applies an ops override over the plan and reports usage and the warning level, with one Event per crossing", async () => {
    await applyAs(platform.admin, plans, plan("growth", 2, { included: 10, hardCeiling: 10 }));
    await applyAs(
      platform.admin,
      tenants,
      tenant("globex", "growth", {
        overrides: [{ meter: "quotes", included: 20, hardCeiling: 40, reason: "OPS-1234 peak season" }],
      }),
    );
    await waitFor("override applied", async () => (await entitlement("globex", "quotes"))?.included === 20);
    expect(await entitlement("globex", "quotes")).toMatchObject({ hard_ceiling: 40, source: "override" });

    const id = await tenantId("globex");
    for (let i = 0; i < 17; i++) await withTenant(appDb, id, (db) => consume(db, "quotes"));
    const warned = await waitFor("usage at 85 %", async () => {
      const t = await getTenant("globex");
      return t.status?.warningLevel === 80 ? t : undefined;
    });
    expect(warned.status?.usage?.find((u) => u.meter === "quotes")).toMatchObject({
      used: 17,
      included: 20,
      percent: 85,
      level: 80,
    });

    for (let i = 0; i < 2; i++) await withTenant(appDb, id, (db) => consume(db, "quotes"));
    await waitFor("usage at 95 %", async () => (await getTenant("globex")).status?.warningLevel === 90);
    const crossings = await waitFor("two threshold events", async () => {
      const list = await events("globex", "UsageThresholdCrossed");
      return list.length >= 2 ? list : undefined;
    });
    await new Promise((r) => setTimeout(r, 2500)); // several usage refreshes later...
    expect(await events("globex", "UsageThresholdCrossed")).toHaveLength(crossings.length); // ...no repeats
    expect(crossings.map((e) => e.note).join("\n")).toContain("19 of 20");
  });

  it("reports an unknown plan as a False condition with a reason and recovers when the plan appears", async () => {
    await applyAs(platform.admin, tenants, tenant("initech", "enterprise"));
    const failing = await waitFor("PlanNotFound", async () => {
      const t = await getTenant("initech");
      return condition(t, "Ready")?.reason === "PlanNotFound" ? t : undefined;
    });
    expect(condition(failing, "PlanResolved")).toMatchObject({ status: "False", reason: "PlanNotFound" });
    expect(condition(failing, "Ready")?.message).toContain('Plan "enterprise" does not exist');
    // The Event follows the status write; wait for it, then make sure it is not repeated.
    await waitFor("PlanNotFound event", async () => (await events("initech", "PlanNotFound")).length > 0);
    expect(await events("initech", "PlanNotFound")).toHaveLength(1);

    await applyAs(platform.admin, plans, plan("enterprise", 3, { included: 100, hardCeiling: 100 }));
    await waitFor("recovered", async () => condition(await getTenant("initech"), "Ready")?.status === "True");
    expect((await entitlement("initech", "quotes"))?.included).toBe(100);
  });

  it("rejects bad objects at the API server with the rule's message", async () => {
    const rejection = async (object: Record<string, unknown>, ref = plans) => {
      try {
        await applyAs(platform.admin, ref, object as never);
      } catch (error) {
        expect(error).toBeInstanceOf(KubeApiError);
        expect((error as KubeApiError).status).toBe(422);
        return (error as Error).message;
      }
      throw new Error("the API server accepted an invalid object");
    };
    expect(await rejection(plan("bad-negative", 9, { included: -5 }))).toMatch(
      /included.*greater than or equal to 0/,
    );
    expect(
      await rejection({
        ...plan("bad-meter", 9),
        spec: {
          ...plan("x", 9).spec,
          meters: [{ name: "parcels", included: 1, overageAllowed: false, hardCeiling: 1 }],
        },
      }),
    ).toContain('unknown meter "parcels": the meters are quotes, bulk_jobs, directory_invites');
    expect(
      await rejection(plan("bad-price", 9, { overageAllowed: false, overageUnitPriceCents: 5 })),
    ).toContain("overageUnitPriceCents is set but overageAllowed is false");
    expect(await rejection(plan("bad-ceiling", 9, { included: 10, hardCeiling: 5 }))).toContain(
      "hardCeiling is below included",
    );
    expect(
      await rejection(
        tenant("bad-override", "starter", {
          overrides: [{ meter: "quotes", included: 50, hardCeiling: 10, reason: "x" }],
        }),
        tenants,
      ),
    ).toContain("hardCeiling is below included");
  });

  it("reports what the schema cannot see (an override that breaks the plan's ceiling) as a condition", async () => {
    await applyAs(
      platform.admin,
      tenants,
      tenant("hooli", "starter", { overrides: [{ meter: "quotes", included: 500, reason: "TICKET-9" }] }),
    );
    const failing = await waitFor("InvalidOverride", async () => {
      const t = await getTenant("hooli");
      return condition(t, "Ready")?.reason === "InvalidOverride" ? t : undefined;
    });
    expect(condition(failing, "EntitlementsApplied")?.message).toContain(
      "leaves hardCeiling 10 below included 500",
    );
  });

  it("handles concurrent edits: a stale write gets 409, and the controller converges on the last spec", async () => {
    const current = await getTenant("acme");
    // Another writer changes the tenant; a write based on the old resourceVersion must be refused...
    await applyAs(
      platform.admin,
      tenants,
      tenant("acme", "starter", { billingStatus: "past_due" }),
      "billing-webhook",
    );
    const stale = platform.admin.mergePatch(
      tenants,
      "acme",
      { metadata: { resourceVersion: current.metadata.resourceVersion, labels: { x: "y" } } },
      { namespace: TENANT_NAMESPACE },
    );
    await expect(stale).rejects.toSatisfy(isConflict);
    // ...and a burst of edits from two writers racing the controller ends in the last one.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        applyAs(
          platform.admin,
          tenants,
          tenant("acme", i % 2 ? "growth" : "starter", { billingStatus: "active" }),
          i % 2 ? "sales" : "billing-webhook",
        ),
      ),
    );
    await applyAs(platform.admin, tenants, tenant("acme", "growth", { billingStatus: "active" }), "sales");
    await waitFor("acme on growth", async () => {
      const { rows } = await operatorDb.query(
        "SELECT plan_id, billing_status FROM tenants WHERE slug = 'acme'",
      );
      return rows[0]?.plan_id === "growth" && (await entitlement("acme", "quotes"))?.included === 10;
    });
  });

  it("offboards a deleted tenant: API keys disabled and one data export queued before the finalizer lets go", async () => {
    const id = await tenantId("globex");
    await operatorDb.query(
      "INSERT INTO api_keys (tenant_id, key_prefix, key_hash) VALUES ($1, 'fk_live_a', '\\x01'), ($1, 'fk_live_b', '\\x02')",
      [id],
    );
    await platform.admin.delete(tenants, "globex", TENANT_NAMESPACE);
    await waitFor("globex gone", async () => {
      try {
        await getTenant("globex");
        return false;
      } catch (error) {
        return (error as KubeApiError).status === 404;
      }
    });
    const { rows: keys } = await operatorDb.query("SELECT disabled_at FROM api_keys WHERE tenant_id = $1", [
      id,
    ]);
    expect(keys).toHaveLength(2);
    expect(keys.every((k) => k.disabled_at !== null)).toBe(true);
    const { rows: tasks } = await operatorDb.query(
      "SELECT kind, status, payload FROM agent_tasks WHERE tenant_id = $1",
      [id],
    );
    expect(tasks).toEqual([
      { kind: "data_export", status: "queued", payload: expect.objectContaining({ slug: "globex" }) },
    ]);
    expect(await events("globex", "Offboarded")).toHaveLength(1);
  });

  it("shows plan, readiness, warning level and usage in `kubectl get tenants` columns", async () => {
    // What kubectl asks for: the server-side table built from the CRD's printer columns.
    const table = await platform.admin.request<{
      columnDefinitions: { name: string }[];
      rows: { cells: unknown[]; object: { metadata: { name: string } } }[];
    }>("GET", platform.admin.path(tenants, TENANT_NAMESPACE), {
      query: { includeObject: "Metadata" },
      headers: { Accept: "application/json;as=Table;v=v1;g=meta.k8s.io" },
    });
    const columns = table.columnDefinitions.map((c) => c.name);
    expect(columns).toEqual([
      "Name",
      "Plan",
      "Billing",
      "Ready",
      "Warning",
      "Quotes %",
      "RPS",
      "Reason",
      "Age",
    ]);
    const row = (name: string) => {
      const cells = table.rows.find((r) => r.object.metadata.name === name)!.cells;
      return Object.fromEntries(columns.map((c, i) => [c, cells[i]]));
    };
    expect(row("initech")).toMatchObject({
      Plan: "enterprise",
      Billing: "active",
      Ready: "True",
      Warning: 0,
      "Quotes %": 0,
    });
    expect(row("hooli")).toMatchObject({ Plan: "starter", Ready: "False", Reason: "InvalidOverride" });
  });

  it("serves health, readiness and reconcile metrics", async () => {
    expect((await fetch(`${operator.probeUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${operator.probeUrl}/readyz`)).text()).toBe("leading\n");
    const metrics = await (await fetch(`${operator.probeUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /controller_runtime_reconcile_total\{controller="tenant",result="(success|requeue)"\} [1-9]/,
    );
    expect(metrics).toContain('workqueue_depth{name="tenant"}');
    expect(metrics).toContain("controller_runtime_reconcile_time_seconds_bucket");
    expect(metrics).toContain("leader_election_master_status 1");
  });
});
