// Limit increases end to end, as the tenant and ops live them: the real API asks (and the runner tells
// the ops webhook), `npm run limits` grants against the real kube-apiserver and PostgreSQL, the real
// tenant controller raises the effective limit the app enforces, and the runner emails the tenant.
// Bad decisions (a request that does not exist, one already decided, amounts that make no sense) are
// refused with what to do instead, and nothing is applied or recorded twice.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createPool, withTenant } from "../db/pool.ts";
import { provisionTenant, seedPlans } from "../db/seed.ts";
import { main as limits } from "../ops/limits.ts";
import { LIMITS_FIELD_MANAGER, requestAnnotation } from "./tenant-overrides.ts";
import { plans, tenants } from "../../operators/api/resources.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { apiClient } from "../../tools/platform/api-client.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import {
  applyAs,
  startOperator,
  startOperatorPlatform,
  TENANT_NAMESPACE,
  waitFor,
  type OperatorPlatform,
  type OperatorProcess,
} from "../../tools/platform/operators.ts";
import { Mailbox, OpsWebhook } from "../../tools/platform/receivers.ts";
import { startTestRunner, until } from "../../tools/platform/runner.ts";
import type { RunningRunner } from "../runner/main.ts";

let platform: OperatorPlatform;
let operator: OperatorProcess;
let operatorDb: pg.Pool;
let appDb: pg.Pool;
let billingDb: pg.Pool;
let app: TestApp;
let runner: RunningRunner;
const mailbox = new Mailbox();
const webhook = new OpsWebhook();

beforeAll(async () => {
  platform = await startOperatorPlatform("limits");
  operatorDb = createPool(platform.db.urls.operator, 4);
  appDb = createPool(platform.db.urls.app, 2);
  billingDb = createPool(platform.db.urls.billing, 1);
  await seedPlans(operatorDb);
  await applyAs(platform.admin, plans, {
    kind: "Plan",
    metadata: { name: "pro" },
    spec: {
      displayName: "Pro",
      rank: 2,
      monthlyPriceCents: 49900,
      meters: [
        { name: "quotes", included: 100, overageAllowed: false, hardCeiling: 150 },
        { name: "bulk_jobs", included: 10, overageAllowed: false, hardCeiling: 10 },
        { name: "directory_invites", included: 20, overageAllowed: false, hardCeiling: 20 },
      ],
      rateLimits: { requestsPerSecond: 50, burst: 100, bulkJobConcurrency: 2 },
    },
  });
  operator = await startOperator({
    kubeconfigPath: platform.cluster.kubeconfigPath,
    databaseUrl: platform.db.urls.operator,
  });
  app = await startTestApp({ db: platform.db });
  await mailbox.start();
  await webhook.start();
  runner = await startTestRunner(platform.db.urls.runner, {
    SMTP_URL: mailbox.url,
    BILLING_EMAIL_FROM: "Freight <hello@freight.example>",
    OPS_WEBHOOK_URL: webhook.url,
  });
}, 1_800_000);

afterAll(async () => {
  await runner?.stop();
  await app?.stop();
  await operator?.stop();
  await mailbox.stop();
  await webhook.stop();
  await Promise.all([operatorDb?.end(), appDb?.end(), billingDb?.end()]);
  await platform?.stop();
});

const getTenant = (slug: string) => platform.admin.get<Tenant>(tenants, slug, TENANT_NAMESPACE);

async function entitlement(tenantId: string, meter: string) {
  const { rows } = await operatorDb.query<{ included: number; hard_ceiling: number; source: string }>(
    "SELECT included, hard_ceiling, source FROM entitlements WHERE tenant_id = $1 AND meter = $2",
    [tenantId, meter],
  );
  return rows[0];
}

/** A Pro tenant the tenant controller manages, with an API key and a contact address. */
async function proTenant(extra: Partial<Tenant["spec"]> = {}) {
  const slug = `lim-${Math.random().toString(36).slice(2, 8)}`;
  const tenant = await provisionTenant(operatorDb, { slug, name: `Limits ${slug}`, planId: "pro" });
  const email = `ops@${slug}.example`;
  await billingDb.query(
    "INSERT INTO billing_accounts (tenant_id, stripe_customer_id, billing_email) VALUES ($1, $2, $3)",
    [tenant.tenantId, `cus_${slug}`, email],
  );
  await applyAs(platform.admin, tenants, {
    kind: "Tenant",
    metadata: { name: slug, namespace: TENANT_NAMESPACE },
    spec: { displayName: slug, plan: "pro", ...extra },
  });
  await waitFor(`${slug} adopted by the tenant controller`, async () => {
    const t = await getTenant(slug);
    return t.status?.tenantId === tenant.tenantId && (await entitlement(tenant.tenantId, "quotes"));
  });
  return { ...tenant, email, client: apiClient(app.url, tenant.apiKey) };
}

/** What `npm run limits` printed, per run in flight (two may run at once). */
const printed = new Set<string[]>();
let spies: { mockRestore(): void }[] = [];

/** `npm run limits -- ...` as ops runs it: exit code and what it printed. */
async function runLimits(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  if (printed.size === 0) {
    const capture = (...a: unknown[]) => printed.forEach((p) => p.push(a.join(" ")));
    spies = [
      vi.spyOn(console, "log").mockImplementation(capture),
      vi.spyOn(console, "error").mockImplementation(capture),
    ];
  }
  printed.add(lines);
  try {
    const code = await limits(argv, {
      OPERATOR_DATABASE_URL: platform.db.urls.operator,
      KUBECONFIG: platform.cluster.kubeconfigPath,
    });
    return { code, out: lines.join("\n") };
  } finally {
    printed.delete(lines);
    if (printed.size === 0) for (const spy of spies) spy.mockRestore();
  }
}

async function ask(client: ReturnType<typeof apiClient>, body: Record<string, unknown>) {
  const res = await client.post<Record<string, any>>("/v1/limit-increase-requests", body);
  expect(res.status).toBe(201);
  return res.body;
}

describe("limit increases", () => {
  it("tells ops, grants with one command, raises the enforced limit and emails the tenant", async () => {
    const tenant = await proTenant();
    const asked = await ask(tenant.client, {
      meter: "quotes",
      requestedLimit: 500,
      reason: "Peak season, 3x volume",
    });
    expect(asked).toMatchObject({ meter: "quotes", requestedLimit: 500, status: "open", granted: null });

    const [event] = await until(
      "ops told of the request",
      async () => webhook.events("limit_increase_requested").filter((e) => e.requestId === asked.id),
      (e) => e.length > 0,
    );
    expect(event).toMatchObject({
      tenantSlug: tenant.slug,
      meter: "quotes",
      requestedLimit: 500,
      currentIncluded: 100,
    });
    expect(event!.approve).toContain(`npm run limits -- approve ${asked.id}`);

    const listed = await runLimits("list");
    expect(listed.code).toBe(0);
    expect(listed.out).toContain(asked.id);

    const granted = await runLimits("approve", asked.id, "--by", "dana@freight.dev");
    expect(granted.code).toBe(0);
    expect(granted.out).toMatch(/GRANTED .* 500 included, ceiling 550/);

    // The grant is this meter's override, set by its own field manager, naming the request.
    const tenantObject = await getTenant(tenant.slug);
    const override = tenantObject.spec.overrides?.find((o) => o.meter === "quotes");
    expect(override).toMatchObject({ included: 500, hardCeiling: 550 });
    expect(override?.reason).toContain(asked.id);
    expect(override?.reason).toContain("Peak season");
    expect(tenantObject.metadata.annotations?.[requestAnnotation("quotes")]).toBe(asked.id);
    const managers = (tenantObject.metadata as { managedFields?: { manager: string }[] }).managedFields ?? [];
    expect(managers.map((m) => m.manager)).toContain(LIMITS_FIELD_MANAGER);

    // The tenant controller turns it into the limit the app enforces.
    await waitFor(
      "effective limit raised",
      async () => (await entitlement(tenant.tenantId, "quotes"))?.included === 500,
    );
    expect(await entitlement(tenant.tenantId, "quotes")).toMatchObject({
      hard_ceiling: 550,
      source: "override",
    });
    const usage = await tenant.client.get<Record<string, any>>("/v1/usage");
    expect(usage.body.meters.find((m: { meter: string }) => m.meter === "quotes")).toMatchObject({
      included: 500,
      ceiling: 550,
    });

    const status = await tenant.client.get<Record<string, any>>(`/v1/limit-increase-requests/${asked.id}`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ status: "granted", granted: { included: 500, hardCeiling: 550 } });
    expect(status.body.decidedAt).not.toBeNull();

    const [mail] = await until(
      "the grant email",
      async () => mailbox.to(tenant.email),
      (m) => m.length > 0,
    );
    expect(mail!.mail.subject).toBe("Your quotes limit is now 500");
    expect(mail!.mail.text).toContain(asked.id);

    // Approving again changes nothing and says why.
    const before = (await getTenant(tenant.slug)).metadata.resourceVersion;
    const again = await runLimits("approve", asked.id, "--by", "dana@freight.dev", "--amount", "900");
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/already granted .* by dana@freight\.dev/);
    expect((await getTenant(tenant.slug)).metadata.resourceVersion).toBe(before);
    const { rows: notices } = await operatorDb.query(
      "SELECT 1 FROM agent_tasks WHERE tenant_id = $1 AND kind = 'tenant_notice'",
      [tenant.tenantId],
    );
    expect(notices).toHaveLength(1);
  });

  it("refuses decisions that make no sense, declines with a reason and emails that too", async () => {
    const tenant = await proTenant();
    const small = await ask(tenant.client, {
      meter: "quotes",
      requestedLimit: 80,
      reason: "Just a few more",
    });
    const before = (await getTenant(tenant.slug)).metadata.resourceVersion;

    const missing = await runLimits(
      "approve",
      "00000000-0000-4000-8000-000000000000",
      "--by",
      "dana@freight.dev",
    );
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/no limit-increase request 00000000-.* exists.*npm run limits -- list/);
    const malformed = await runLimits("approve", "42", "--by", "dana@freight.dev");
    expect(malformed.code).toBe(1);
    expect(malformed.out).toMatch(/"42" is not a request id/);
    const below = await runLimits("approve", small.id, "--by", "dana@freight.dev");
    expect(below.code).toBe(1);
    expect(below.out).toMatch(/--amount 80 is not above the 100 quotes the tenant already has/);
    const zero = await runLimits("approve", small.id, "--by", "dana@freight.dev", "--amount", "0");
    expect(zero.code).toBe(1);
    const words = await runLimits("approve", small.id, "--by", "dana@freight.dev", "--amount", "lots");
    expect(words.code).toBe(1);
    expect(words.out).toMatch(/--amount "lots" is not a whole number/);
    const lowCeiling = await runLimits(
      "approve",
      small.id,
      "--by",
      "d@f.dev",
      "--amount",
      "300",
      "--ceiling",
      "200",
    );
    expect(lowCeiling.code).toBe(1);
    expect(lowCeiling.out).toMatch(/--ceiling 200 is below --amount 300/);
    expect((await runLimits("approve", small.id)).code).toBe(2);
    expect((await runLimits("decline", small.id, "--by", "dana@freight.dev")).code).toBe(2);
    // None of that touched the Tenant or the request.
    expect((await getTenant(tenant.slug)).metadata.resourceVersion).toBe(before);
    expect(
      (await tenant.client.get<Record<string, any>>(`/v1/limit-increase-requests/${small.id}`)).body.status,
    ).toBe("open");

    const declined = await runLimits(
      "decline",
      small.id,
      "--by",
      "dana@freight.dev",
      "--reason",
      "Your plan already includes 100; upgrade to Enterprise for more",
    );
    expect(declined.code).toBe(0);
    const status = await tenant.client.get<Record<string, any>>(`/v1/limit-increase-requests/${small.id}`);
    expect(status.body).toMatchObject({
      status: "declined",
      granted: null,
      decisionReason: "Your plan already includes 100; upgrade to Enterprise for more",
    });
    const [mail] = await until(
      "the decline email",
      async () => mailbox.to(tenant.email),
      (m) => m.length > 0,
    );
    expect(mail!.mail.subject).toBe("Your request for more quotes was declined");
    expect(mail!.mail.text).toContain("upgrade to Enterprise");
    expect((await runLimits("decline", small.id, "--by", "x@f.dev", "--reason", "again")).code).toBe(1);
    expect((await getTenant(tenant.slug)).spec.overrides ?? []).toEqual([]);
  });

  it("grants once when two people approve at the same moment", async () => {
    const tenant = await proTenant();
    const asked = await ask(tenant.client, {
      meter: "bulk_jobs",
      requestedLimit: 40,
      reason: "Quarter-end re-rating",
    });
    const results = await Promise.all([
      runLimits("approve", asked.id, "--by", "a@freight.dev"),
      runLimits("approve", asked.id, "--by", "b@freight.dev"),
    ]);
    expect(results.map((r) => r.code).sort()).toEqual([0, 1]);
    const { rows } = await operatorDb.query(
      "SELECT decided_by FROM limit_increase_requests WHERE id = $1 AND status = 'granted'",
      [asked.id],
    );
    expect(rows).toHaveLength(1);
    const { rows: notices } = await operatorDb.query(
      "SELECT 1 FROM agent_tasks WHERE tenant_id = $1 AND kind = 'tenant_notice'",
      [tenant.tenantId],
    );
    expect(notices).toHaveLength(1);
  });

  it("keeps earlier grants and ops' own overrides when another meter is granted", async () => {
    const tenant = await proTenant({
      overrides: [
        { meter: "directory_invites", included: 60, hardCeiling: 60, reason: "OPS-77 partner drive" },
      ],
    });
    const quotes = await ask(tenant.client, {
      meter: "quotes",
      requestedLimit: 1000,
      reason: "New customer lanes",
    });
    const bulk = await ask(tenant.client, {
      meter: "bulk_jobs",
      requestedLimit: 25,
      reason: "Tender season",
    });
    expect(
      (await runLimits("approve", quotes.id, "--by", "dana@freight.dev", "--ceiling", "1200")).code,
    ).toBe(0);
    expect(
      (await runLimits("approve", bulk.id, "--by", "dana@freight.dev", "--note", "Through March")).code,
    ).toBe(0);
    const overrides = (await getTenant(tenant.slug)).spec.overrides ?? [];
    expect(Object.fromEntries(overrides.map((o) => [o.meter, o.included]))).toEqual({
      directory_invites: 60,
      quotes: 1000,
      bulk_jobs: 25,
    });
    await waitFor("all three enforced", async () => {
      const [q, b, d] = await Promise.all(
        ["quotes", "bulk_jobs", "directory_invites"].map((m) => entitlement(tenant.tenantId, m)),
      );
      return q?.included === 1000 && q.hard_ceiling === 1200 && b?.included === 25 && d?.included === 60;
    });
  });

  it("shows a tenant only its own requests, and a tenant cannot decide its own", async () => {
    const mine = await proTenant();
    const theirs = await proTenant();
    const asked = await ask(theirs.client, { meter: "quotes", requestedLimit: 300, reason: "Their reason" });
    expect((await mine.client.get(`/v1/limit-increase-requests/${asked.id}`)).status).toBe(404);
    const list = await mine.client.get<Record<string, any>>("/v1/limit-increase-requests");
    expect(list.status).toBe(200);
    expect(list.body.requests).toEqual([]);
    const theirList = await theirs.client.get<Record<string, any>>("/v1/limit-increase-requests?status=open");
    expect(theirList.body.requests.map((r: { id: string }) => r.id)).toEqual([asked.id]);
    const badId = await mine.client.get<Record<string, any>>("/v1/limit-increase-requests/not-an-id");
    expect(badId.status).toBe(422);
    expect(badId.body.errors[0]).toMatchObject({ field: "id" });
    const badStatus = await mine.client.get<Record<string, any>>("/v1/limit-increase-requests?status=maybe");
    expect(badStatus.status).toBe(422);
    // A retried request (same Idempotency-Key) is one request and one message to ops; a bad one is none.
    const key = { "idempotency-key": `lim-${asked.id}` };
    const body = { meter: "directory_invites", requestedLimit: 90, reason: "Partner drive" };
    const first = await mine.client.post<Record<string, any>>("/v1/limit-increase-requests", body, key);
    const retry = await mine.client.post<Record<string, any>>("/v1/limit-increase-requests", body, key);
    expect(retry.body.id).toBe(first.body.id);
    const bad = await mine.client.post<Record<string, any>>("/v1/limit-increase-requests", {
      meter: "parcels",
      requestedLimit: 2_000_000_000,
      reason: "x",
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      "meter",
      "reason",
      "requestedLimit",
    ]);
    const { rows: mineRows } = await operatorDb.query(
      `SELECT (SELECT count(*)::int FROM limit_increase_requests WHERE tenant_id = $1) AS requests,
              (SELECT count(*)::int FROM agent_tasks WHERE tenant_id = $1 AND kind = 'limit_increase_requested') AS tasks`,
      [mine.tenantId],
    );
    expect(mineRows[0]).toEqual({ requests: 1, tasks: 1 });
    await expect(
      withTenant(appDb, theirs.tenantId, (db) =>
        db.query("UPDATE limit_increase_requests SET status = 'granted' WHERE id = $1", [asked.id]),
      ),
    ).rejects.toThrow(/permission denied/);
  });
});
