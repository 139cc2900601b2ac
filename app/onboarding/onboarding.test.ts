// The first-run checklist and its one nudge, as a new tenant lives them: the real API over a real
// PostgreSQL (the app role under row security), the nudge job as freight_operator, and a real runner
// mailing the nudge to a real SMTP server.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../db/pool.ts";
import { provisionTenant } from "../db/seed.ts";
import { runOnboardingNudges } from "../ops/onboarding-nudges.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { Mailbox } from "../../tools/platform/receivers.ts";
import { startTestRunner, until } from "../../tools/platform/runner.ts";

let t: TestApp;
let operator: pg.Pool;
let billing: pg.Pool;
const mailbox = new Mailbox();

beforeAll(async () => {
  t = await startTestApp();
  operator = createPool(t.db.urls.operator, 2);
  billing = createPool(t.db.urls.billing, 1);
  await mailbox.start();
});
afterAll(async () => {
  await operator?.end();
  await billing?.end();
  await mailbox.stop();
  await t?.stop();
});

/** A tenant that signed up `hoursAgo` hours ago, with a contact address. */
async function tenantSignedUp(hoursAgo: number) {
  const slug = `onb-${Math.random().toString(36).slice(2, 10)}`;
  const tenant = await provisionTenant(operator, { slug, name: `Onboarding ${slug}`, planId: "pro" });
  await operator.query("UPDATE tenants SET created_at = now() - make_interval(secs => $2) WHERE id = $1", [
    tenant.tenantId,
    hoursAgo * 3600,
  ]);
  await billing.query(
    "INSERT INTO billing_accounts (tenant_id, stripe_customer_id, billing_email) VALUES ($1, $2, $3)",
    [tenant.tenantId, `cus_${slug}`, `ops@${slug}.example`],
  );
  return { ...tenant, client: apiClient(t.url, tenant.apiKey), email: `ops@${slug}.example` };
}

async function nudgesOf(tenantId: string) {
  const { rows } = await operator.query<{ payload: Record<string, unknown>; status: string }>(
    "SELECT payload, status FROM agent_tasks WHERE tenant_id = $1 AND kind = 'tenant_notice'",
    [tenantId],
  );
  return rows.filter((r) => r.payload.notice === "first_quote_nudge");
}

describe("first-run checklist", () => {
  it("shows each step's done time and the time to first quote since signup", async () => {
    const tenant = await tenantSignedUp(2);
    const fresh = await tenant.client.get<Record<string, any>>("/v1/onboarding");
    expect(fresh.status).toBe(200);
    expect(fresh.body.complete).toBe(false);
    expect(fresh.body.steps.map((s: { step: string; done: boolean }) => [s.step, s.done])).toEqual([
      ["send_quote", false],
      ["invite_partner", false],
      ["book_load", false],
    ]);
    expect(fresh.body.timeToFirstQuoteSeconds).toBeNull();

    const quote = await tenant.client.post<Record<string, any>>("/v1/quotes", quoteBody());
    expect(quote.status).toBe(201);
    const quoted = await tenant.client.get<Record<string, any>>("/v1/onboarding");
    const sendQuote = quoted.body.steps.find((s: { step: string }) => s.step === "send_quote");
    expect(sendQuote.done).toBe(true);
    expect(new Date(sendQuote.doneAt).getTime()).toBe(new Date(quote.body.createdAt).getTime());
    // Signed up two hours ago: the first quote came about 7,200 s later.
    expect(quoted.body.timeToFirstQuoteSeconds).toBeGreaterThanOrEqual(7_190);
    expect(quoted.body.timeToFirstQuoteSeconds).toBeLessThan(7_300);

    const booked = await tenant.client.post<Record<string, any>>(`/v1/quotes/${quote.body.id}/book`, {});
    expect(booked.status).toBeLessThan(300);
    const carriers = await tenant.client.get<Record<string, any>>("/v1/directory/carriers?limit=1");
    const invite = await tenant.client.post<Record<string, any>>("/v1/directory/invites", {
      carrierId: carriers.body.carriers[0].id,
      email: "dispatch@carrier.example",
    });
    expect(invite.status).toBe(201);
    const done = await tenant.client.get<Record<string, any>>("/v1/onboarding");
    expect(done.body.complete).toBe(true);
    expect(done.body.steps.every((s: { doneAt: string | null }) => s.doneAt !== null)).toBe(true);
  });

  it("shows a tenant only its own progress", async () => {
    const quiet = await tenantSignedUp(1);
    const busy = await tenantSignedUp(1);
    await busy.client.post("/v1/quotes", quoteBody());
    const seen = await quiet.client.get<Record<string, any>>("/v1/onboarding");
    expect(seen.body.steps[0].done).toBe(false);
    expect((await apiClient(t.url).get("/v1/onboarding")).status).toBe(401);
  });
});

describe("first-quote nudge", () => {
  it("nudges a tenant without a quote 24 h after signup exactly once, and the runner mails it", async () => {
    const silent = await tenantSignedUp(25);
    const quoting = await tenantSignedUp(30);
    await quoting.client.post("/v1/quotes", quoteBody());
    const young = await tenantSignedUp(23);
    const old = await tenantSignedUp(24 * 40);

    const first = await runOnboardingNudges(operator);
    expect(first).toContain(silent.slug);
    for (const other of [quoting, young, old]) expect(first).not.toContain(other.slug);
    // However often the job runs (or two regions' jobs race), one nudge.
    const again = await Promise.all([runOnboardingNudges(operator), runOnboardingNudges(operator)]);
    expect(again.flat()).not.toContain(silent.slug);
    expect(await nudgesOf(silent.tenantId)).toHaveLength(1);
    expect(await nudgesOf(quoting.tenantId)).toHaveLength(0);

    const checklist = await silent.client.get<Record<string, any>>("/v1/onboarding");
    expect(checklist.body.nudgedAt).not.toBeNull();

    const runner = await startTestRunner(t.db.urls.runner, {
      SMTP_URL: mailbox.url,
      BILLING_EMAIL_FROM: "Freight <hello@freight.example>",
    });
    try {
      const [mail, ...more] = await until(
        "the nudge email",
        async () => mailbox.to(silent.email),
        (m) => m.length > 0,
      );
      expect(more).toHaveLength(0);
      expect(mail!.mail.subject).toBe("Send your first freight quote");
      expect(mail!.mail.text).toMatch(/have not sent a quote yet/);
      expect(mail!.mail.text).toMatch(/GET \/v1\/onboarding/);
      await until(
        "nudge task settled",
        () => nudgesOf(silent.tenantId),
        (r) => r[0]?.status === "success",
      );
    } finally {
      await runner.stop();
    }
  });

  it("refuses to start without its database login, naming the variable", async () => {
    const { parseOnboardingNudgesConfig } = await import("../ops/onboarding-nudges.ts");
    expect(() => parseOnboardingNudgesConfig({})).toThrow(/OPERATOR_DATABASE_URL/);
    expect(() => parseOnboardingNudgesConfig({ OPERATOR_DATABASE_URL: "mysql://x" })).toThrow(
      /OPERATOR_DATABASE_URL/,
    );
  });
});
