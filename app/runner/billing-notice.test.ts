// Billing notices from a signed Stripe event to the customer's mailbox: the real app with BILLING=on
// records the billing contact and queues the notice, a real runner sends it over SMTP to a real SMTP
// server, and every notice that cannot arrive ends failed with its reason and a billing_alert at the
// ops webhook. Also the billing_alert events billing itself queues.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../env.ts";
import { deliver, startBillingApp, stripeEvent, type BillingTestApp } from "../../tools/platform/billing.ts";
import { createPool } from "../db/pool.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { Mailbox, OpsWebhook } from "../../tools/platform/receivers.ts";
import { parseRunnerConfig } from "./config.ts";
import { startTestRunner, until } from "../../tools/platform/runner.ts";

const FROM = "Freight Billing <billing@freight.example>";

let db: TestDatabase;
let billingApp: BillingTestApp;
let operator: pg.Pool;
let billingDb: pg.Pool;
const mailbox = new Mailbox();
const webhook = new OpsWebhook();
const tenantIds: Record<string, string> = {};

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  billingApp = await startBillingApp({ db });
  operator = createPool(db.urls.operator, 2);
  billingDb = createPool(db.urls.billing, 2);
  await mailbox.start();
  await webhook.start();
  const { rows } = await operator.query<{ id: string; slug: string }>("SELECT id, slug FROM tenants");
  for (const row of rows) tenantIds[row.slug] = row.id;
  const { rows: added } = await operator.query<{ id: string }>(
    "INSERT INTO tenants (slug, name, plan_id) VALUES ('dray-co', 'Dray Co', 'starter') RETURNING id",
  );
  tenantIds["dray-co"] = added[0]!.id;
  const { rows: busy } = await operator.query<{ id: string }>(
    "INSERT INTO tenants (slug, name, plan_id) VALUES ('busy-co', 'Busy Co', 'starter') RETURNING id",
  );
  tenantIds["busy-co"] = busy[0]!.id;
  for (const slug of Object.keys(tenantIds))
    await billingDb.query("INSERT INTO billing_accounts (tenant_id, stripe_customer_id) VALUES ($1, $2)", [
      tenantIds[slug],
      `cus_${slug}`,
    ]);
});
afterAll(async () => {
  await billingApp?.stop();
  await operator?.end();
  await billingDb?.end();
  await mailbox.stop();
  await webhook.stop();
  await db?.stop();
});

interface TaskRow {
  id: string;
  kind: string;
  status: string;
  attempts: number;
  last_error: string | null;
  payload: Record<string, unknown>;
}

async function tasksOf(slug: string, kind: string): Promise<TaskRow[]> {
  const { rows } = await operator.query<TaskRow>(
    "SELECT id, kind, status, attempts, last_error, payload FROM agent_tasks WHERE tenant_id = $1 AND kind = $2 ORDER BY created_at",
    [tenantIds[slug], kind],
  );
  return rows;
}

const settled = (rows: TaskRow[]) =>
  rows.length > 0 && rows.every((r) => ["success", "failed"].includes(r.status));

function paymentFailed(slug: string, invoice: string, email: string | null) {
  return stripeEvent("invoice.payment_failed", {
    id: invoice,
    object: "invoice",
    customer: `cus_${slug}`,
    customer_email: email,
    attempt_count: 1,
    amount_due: 49_900,
    currency: "usd",
    next_payment_attempt: Date.UTC(2031, 2, 14, 12) / 1000,
    hosted_invoice_url: `https://invoice.stripe.com/i/${invoice}`,
    parent: null,
  });
}

async function insertNotice(
  slug: string,
  payload: Record<string, unknown>,
  maxAttempts = 5,
): Promise<string> {
  const { rows } = await operator.query<{ id: string }>(
    "INSERT INTO agent_tasks (tenant_id, kind, payload, max_attempts) VALUES ($1, 'billing_notice', $2, $3) RETURNING id",
    [tenantIds[slug], JSON.stringify(payload), maxAttempts],
  );
  return rows[0]!.id;
}

describe("runner configuration for billing notices", () => {
  it("names the missing From and the malformed SMTP URL", () => {
    const base = { DATABASE_URL: "postgres://freight_runner:x@localhost/freight" };
    expect(() => parseRunnerConfig({ ...base, SMTP_URL: "smtp://mail.example:587" })).toThrow(
      /BILLING_EMAIL_FROM: is required with SMTP_URL/,
    );
    expect(() =>
      parseRunnerConfig({ ...base, SMTP_URL: "https://mail.example", BILLING_EMAIL_FROM: FROM }),
    ).toThrow(ConfigError);
    expect(() =>
      parseRunnerConfig({ ...base, SMTP_URL: "https://mail.example", BILLING_EMAIL_FROM: FROM }),
    ).toThrow(/SMTP_URL: .*smtp:\/\/ or smtps:\/\/ URL/);
    expect(parseRunnerConfig({ ...base, SMTP_URL: "", BILLING_EMAIL_FROM: "" }).SMTP_URL).toBeUndefined();
  });
});

describe("billing notices by email", () => {
  it("delivers dunning and trial notices to the contact Stripe gave us, retries a busy server, and alerts ops about every notice that cannot arrive", async () => {
    // acme: payment failed, contact from the invoice; its grace period is running.
    await billingDb.query(
      "UPDATE billing_accounts SET grace_ends_at = '2031-03-21T00:00:00Z' WHERE tenant_id = $1",
      [tenantIds["acme-logistics"]],
    );
    expect(
      (await deliver(billingApp.url, paymentFailed("acme-logistics", "in_acme", "ap@acme.example"))).status,
    ).toBe(200);
    // globex: contact from checkout, then the trial ends; its mail server is busy at first.
    const subscription = billingApp.stripe.putSubscription({
      customer: "cus_globex-freight",
      price: "price_pro_monthly",
      status: "trialing",
    });
    const checkout = stripeEvent("checkout.session.completed", {
      id: "cs_test_globex",
      object: "checkout.session",
      customer: "cus_globex-freight",
      customer_details: { email: "Owner@Globex.example" },
      customer_email: null,
      mode: "subscription",
      status: "complete",
      subscription: subscription.id,
    });
    expect((await deliver(billingApp.url, checkout)).status).toBe(200);
    const trialEnd = Date.UTC(2031, 5, 1) / 1000;
    expect(
      (
        await deliver(
          billingApp.url,
          stripeEvent("customer.subscription.trial_will_end", { ...subscription, trial_end: trialEnd }),
        )
      ).status,
    ).toBe(200);
    // initech: the address does not exist. dray-co: no address on record at all.
    await deliver(billingApp.url, paymentFailed("initech-shipping", "in_initech", "nobody@initech.example"));
    await deliver(billingApp.url, paymentFailed("dray-co", "in_dray", null));
    // busy-co: its mail server never stops answering "try later"; the notice has two attempts.
    await billingDb.query(
      "UPDATE billing_accounts SET billing_email = 'ap@busy.example' WHERE tenant_id = $1",
      [tenantIds["busy-co"]],
    );
    const busy = await insertNotice("busy-co", { notice: "trial_will_end", trialEndsAt: null }, 2);
    // A notice kind this runner does not know.
    const unknown = await insertNotice("acme-logistics", { notice: "plan_changed", plan: "pro" });

    mailbox.answer = (recipient, attempt) =>
      recipient === "ap@busy.example"
        ? 451
        : recipient === "nobody@initech.example"
          ? 550
          : recipient === "owner@globex.example" && attempt === 1
            ? 451
            : 250;
    const runner = await startTestRunner(db.urls.runner, {
      SMTP_URL: mailbox.url,
      BILLING_EMAIL_FROM: FROM,
      OPS_WEBHOOK_URL: webhook.url,
    });
    try {
      for (const slug of ["acme-logistics", "globex-freight", "initech-shipping", "dray-co", "busy-co"])
        await until(`${slug}'s notices to settle`, () => tasksOf(slug, "billing_notice"), settled);

      const [acmeNotice, unknownNotice] = await tasksOf("acme-logistics", "billing_notice");
      expect(acmeNotice).toMatchObject({ status: "success", attempts: 1 });
      const [acmeMail, ...more] = mailbox.to("ap@acme.example");
      expect(more).toHaveLength(0);
      expect(acmeMail!.mail.from?.value).toEqual([
        { name: "Freight Billing", address: "billing@freight.example" },
      ]);
      expect(acmeMail!.mail.subject).toBe("Payment failed: invoice in_acme ($499.00)");
      expect(acmeMail!.mail.messageId).toBe(`<billing-notice.${acmeNotice!.id}@freight.example>`);
      expect(acmeMail!.mail.text).toContain(
        "We could not collect the payment of $499.00 for invoice in_acme",
      );
      expect(acmeMail!.mail.text).toContain("We will try again on March 14, 2031");
      expect(acmeMail!.mail.text).toContain("Your plan stays active until March 21, 2031");
      expect(acmeMail!.mail.html).toContain('<a href="https://invoice.stripe.com/i/in_acme">');

      const [globexNotice] = await tasksOf("globex-freight", "billing_notice");
      expect(globexNotice).toMatchObject({ status: "success", attempts: 2 });
      const globexMail = mailbox.to("owner@globex.example");
      expect(globexMail).toHaveLength(1);
      expect(globexMail[0]!.mail.subject).toBe("Your Freight trial ends on June 1, 2031");
      expect(mailbox.attempts.get("owner@globex.example")).toBe(2);

      const [initechNotice] = await tasksOf("initech-shipping", "billing_notice");
      expect(initechNotice).toMatchObject({ status: "failed", attempts: 1 });
      expect(initechNotice!.last_error).toMatch(
        /refused the payment_failed notice to nobody@initech.example for good: 550/,
      );
      expect(mailbox.to("nobody@initech.example")).toHaveLength(0);

      const [drayNotice] = await tasksOf("dray-co", "billing_notice");
      expect(drayNotice).toMatchObject({ status: "failed", attempts: 1 });
      expect(drayNotice!.last_error).toMatch(/dray-co has no billing contact on record/);

      expect(unknownNotice).toMatchObject({ id: unknown, status: "failed", attempts: 1 });
      expect(unknownNotice!.last_error).toMatch(
        /names notice "plan_changed"; this runner renders payment_failed, trial_will_end/,
      );

      const [busyNotice] = await tasksOf("busy-co", "billing_notice");
      expect(busyNotice).toMatchObject({ id: busy, status: "failed", attempts: 2 });
      expect(busyNotice!.last_error).toMatch(/sending the trial_will_end notice failed \(EENVELOPE\): 451/);

      // Each undeliverable notice reached ops once as a billing_alert with what to do.
      const alerts = await until(
        "four undeliverable-notice alerts at the ops webhook",
        async () => webhook.events("billing_alert").filter((e) => e.alert === "notice_undeliverable"),
        (events) => events.length >= 4,
      );
      expect(alerts.map((a) => a.noticeTask).sort()).toEqual(
        [initechNotice!.id, drayNotice!.id, unknown, busy].sort(),
      );
      expect(String(alerts.find((a) => a.noticeTask === busy)!.reason)).toMatch(
        /^gave up after 2 attempts: /,
      );
      const initechAlert = alerts.find((a) => a.noticeTask === initechNotice!.id)!;
      expect(initechAlert).toMatchObject({
        severity: "ticket",
        tenantSlug: "initech-shipping",
        to: "nobody@initech.example",
        notice: "payment_failed",
      });
      expect(String(initechAlert.summary)).toMatch(/did not reach tenant initech-shipping/);
      expect(String(initechAlert.action)).toContain(initechNotice!.id);
    } finally {
      await runner.stop();
    }
  });

  it("fails each notice with the reason and alerts ops when the runner has no SMTP server; the alert's requeue sends it once SMTP is set", async () => {
    await billingDb.query(
      "UPDATE billing_accounts SET billing_email = 'ap@acme.example' WHERE tenant_id = $1",
      [tenantIds["acme-logistics"]],
    );
    const id = await insertNotice("acme-logistics", {
      notice: "trial_will_end",
      subscription: "sub_x",
      trialEndsAt: "2031-06-01T00:00:00.000Z",
    });
    const before = mailbox.received.length;
    let requeue = "";
    const runner = await startTestRunner(db.urls.runner, { SMTP_URL: "", OPS_WEBHOOK_URL: webhook.url });
    try {
      const rows = await until(
        "the notice to settle",
        () => tasksOf("acme-logistics", "billing_notice"),
        (r) => r.some((t) => t.id === id && t.status === "failed"),
      );
      expect(rows.find((t) => t.id === id)?.last_error).toMatch(/SMTP_URL is not set on the runner/);
      const alert = await until(
        "the alert",
        async () => webhook.events("billing_alert").find((e) => e.noticeTask === id),
        Boolean,
      );
      expect(alert).toMatchObject({ alert: "notice_undeliverable", tenantSlug: "acme-logistics" });
      expect(mailbox.received.length).toBe(before);
      requeue = /UPDATE agent_tasks .*$/.exec(String(alert!.action))![0];
    } finally {
      await runner.stop();
    }
    // Ops set SMTP_URL and run the requeue the alert carries.
    await operator.query(requeue);
    const fixed = await startTestRunner(db.urls.runner, {
      SMTP_URL: mailbox.url,
      BILLING_EMAIL_FROM: FROM,
      OPS_WEBHOOK_URL: webhook.url,
    });
    try {
      await until(
        "the requeued notice to be sent",
        () => tasksOf("acme-logistics", "billing_notice"),
        (r) => r.some((t) => t.id === id && t.status === "success"),
      );
      const sent = mailbox.received.filter(
        (m) => m.mail.messageId === `<billing-notice.${id}@freight.example>`,
      );
      expect(sent.map((m) => m.rcptTo)).toEqual([["ap@acme.example"]]);
    } finally {
      await fixed.stop();
    }
  });
});

describe("billing alerts", () => {
  it("reaches ops with its own event name and a severity: a page for a plan change that could not be applied", async () => {
    const { rows } = await operator.query<{ id: string }>(
      `INSERT INTO agent_tasks (tenant_id, kind, payload) VALUES
         ($1, 'billing_alert', '{"alert": "tenant_resource_missing", "event": "evt_1", "detail": "Tenant dray-co not found"}'),
         ($1, 'billing_alert', '{"alert": "unknown_price", "price": "price_mystery", "action": "Add the price"}')
       RETURNING id`,
      [tenantIds["dray-co"]],
    );
    const runner = await startTestRunner(db.urls.runner, { OPS_WEBHOOK_URL: webhook.url });
    try {
      const delivered = await until(
        "both alerts",
        async () => webhook.events("billing_alert").filter((e) => rows.some((r) => r.id === e.taskId)),
        (events) => events.length === 2,
      );
      expect(delivered.find((e) => e.alert === "tenant_resource_missing")).toMatchObject({
        severity: "page",
        tenantSlug: "dray-co",
        summary: "Billing could not apply a plan change to tenant dray-co: Tenant dray-co not found",
      });
      expect(delivered.find((e) => e.alert === "unknown_price")).toMatchObject({
        severity: "ticket",
        price: "price_mystery",
        action: "Add the price",
      });
    } finally {
      await runner.stop();
    }
  });
});
