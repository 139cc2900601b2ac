// Compares our overage with what Stripe's billing meters counted, per tenant and meter, for a month:
//
//   BILLING_DATABASE_URL=postgres://freight_billing:...@db/freight STRIPE_SECRET_KEY=sk_... \
//     npm run billing:reconcile [-- --month 2026-11 | --month previous]
//
// Columns: counted (usage beyond the included quantity, from usage_counters and entitlements), sent and
// pending (the outbox), stripe (the meter's event summary for the customer). A row is "ok" when Stripe
// has exactly what we sent and everything counted is sent or queued. Exit code 0: all ok; 1: any
// difference (listed); 2: usage error; 78: configuration error (app/env.ts).
import type pg from "pg";
import type Stripe from "stripe";
import { appConfigSchema } from "../config.ts";
import { defineEnv, loadEnv, postgresUrl, type Env } from "../env.ts";
import { catalogFromConfig } from "./catalog.ts";
import { createPool } from "../db/pool.ts";
import { createStripeClient } from "./stripe.ts";

export interface ReconcileRow {
  tenant: string;
  meter: string;
  counted: number;
  sent: number;
  pending: number;
  stripe: number;
  result: string;
}

export function monthWindow(month: string | undefined, now = new Date()): { start: Date; end: Date } {
  // "previous": the month that just closed, for a scheduled run after month end.
  const [y, m] =
    month === "previous"
      ? [now.getUTCMonth() === 0 ? now.getUTCFullYear() - 1 : now.getUTCFullYear(), now.getUTCMonth() || 12]
      : month
        ? (month.split("-").map(Number) as [number, number])
        : [now.getUTCFullYear(), now.getUTCMonth() + 1];
  const start = new Date(Date.UTC(y, m - 1, 1));
  const monthEnd = new Date(Date.UTC(y, m, 1));
  // Summaries are asked for whole minutes, up to the next minute boundary when the month is current.
  const nextMinute = new Date(Math.ceil((now.getTime() + 1) / 60_000) * 60_000);
  return { start, end: monthEnd < nextMinute ? monthEnd : nextMinute };
}

export async function reconcile(
  pool: pg.Pool,
  stripe: Stripe,
  overageEventByMeter: ReadonlyMap<string, string>,
  window: { start: Date; end: Date },
): Promise<ReconcileRow[]> {
  const meterIds = new Map<string, string>();
  for await (const meter of stripe.billing.meters.list({ status: "active", limit: 100 }))
    meterIds.set(meter.event_name, meter.id);
  const { rows: accounts } = await pool.query<{
    tenant_id: string;
    slug: string;
    stripe_customer_id: string;
  }>(
    `SELECT a.tenant_id, t.slug, a.stripe_customer_id FROM billing_accounts a JOIN tenants t ON t.id = a.tenant_id
      ORDER BY t.slug`,
  );
  const rows: ReconcileRow[] = [];
  for (const account of accounts) {
    for (const [meter, eventName] of overageEventByMeter) {
      const { rows: ours } = await pool.query<{ counted: number; sent: number; pending: number }>(
        `SELECT (SELECT coalesce(sum(greatest(u.used - e.included, 0)), 0)::bigint
                   FROM usage_counters u JOIN entitlements e ON e.tenant_id = u.tenant_id AND e.meter = u.meter
                  WHERE u.tenant_id = $1 AND u.meter = $2 AND e.overage_allowed
                    AND u.period_start >= $3 AND u.period_start < $4) AS counted,
                (SELECT coalesce(sum(quantity), 0)::bigint FROM overage_outbox
                  WHERE tenant_id = $1 AND meter = $2 AND status = 'sent' AND usage_at >= $3 AND usage_at < $4) AS sent,
                (SELECT coalesce(sum(quantity), 0)::bigint FROM overage_outbox
                  WHERE tenant_id = $1 AND meter = $2 AND status <> 'sent' AND usage_at >= $3 AND usage_at < $4) AS pending`,
        [account.tenant_id, meter, window.start, window.end],
      );
      const { counted, sent, pending } = ours[0]!;
      const meterId = meterIds.get(eventName);
      let stripeValue = 0;
      if (meterId) {
        const summaries = await stripe.billing.meters.listEventSummaries(meterId, {
          customer: account.stripe_customer_id,
          start_time: Math.floor(window.start.getTime() / 1000),
          end_time: Math.floor(window.end.getTime() / 1000),
        });
        stripeValue = summaries.data.reduce((sum, s) => sum + s.aggregated_value, 0);
      }
      if (!counted && !sent && !pending && !stripeValue) continue;
      const result = !meterId
        ? `NO METER ${eventName}`
        : sent !== stripeValue
          ? `DIFF ${sent - stripeValue}`
          : counted !== sent + pending
            ? `UNREPORTED ${counted - sent - pending}`
            : "ok";
      rows.push({ tenant: account.slug, meter, counted, sent, pending, stripe: stripeValue, result });
    }
  }
  return rows;
}

export function formatRows(rows: ReconcileRow[]): string {
  const header = ["tenant", "meter", "counted", "sent", "pending", "stripe", "result"];
  const table = [
    header,
    ...rows.map((r) => [r.tenant, r.meter, r.counted, r.sent, r.pending, r.stripe, r.result].map(String)),
  ];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

// The app's own definitions of the billing variables (and their defaults), the two it needs required.
export const reconcileConfigSchema = appConfigSchema
  .pick({
    STRIPE_API_URL: true,
    STRIPE_PRICE_PLANS: true,
    STRIPE_OVERAGE_METERS: true,
    BILLING_FREE_PLAN: true,
  })
  .extend({
    BILLING_DATABASE_URL: postgresUrl(
      "the freight_billing role's connection URL",
      "postgres://freight_billing:...@host:5432/freight",
    ),
    STRIPE_SECRET_KEY: appConfigSchema.shape.STRIPE_SECRET_KEY.unwrap(),
  });

export const reconcileEnv = defineEnv({
  process: "billing reconcile",
  schema: reconcileConfigSchema,
  secrets: ["BILLING_DATABASE_URL", "STRIPE_SECRET_KEY"],
});

/** The reconcile job's configuration from `env`; throws ConfigError listing every problem. */
export function parseReconcileConfig(env: Env) {
  return reconcileEnv.parse(env);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const monthIndex = args.indexOf("--month");
  const month = monthIndex >= 0 ? args[monthIndex + 1] : undefined;
  if (month !== undefined && !/^(\d{4}-\d{2}|previous)$/.test(month)) {
    console.error("usage: npm run billing:reconcile [-- --month YYYY-MM|previous]");
    return 2;
  }
  const config = loadEnv(reconcileEnv);
  const catalog = catalogFromConfig(config);
  const pool = createPool(config.BILLING_DATABASE_URL, 2);
  try {
    const stripe = createStripeClient(config);
    const window = monthWindow(month);
    const rows = await reconcile(pool, stripe, catalog.overageEventByMeter, window);
    console.log(`Overage ${window.start.toISOString()} .. ${window.end.toISOString()}`);
    console.log(formatRows(rows));
    const bad = rows.filter((r) => r.result !== "ok");
    console.log(
      bad.length
        ? `${bad.length} of ${rows.length} rows differ. DIFF: sent minus what Stripe counted; UNREPORTED: counted but not in the outbox yet.`
        : `All ${rows.length} rows match Stripe.`,
    );
    return bad.length ? 1 : 0;
  } finally {
    await pool.end();
  }
}

if (import.meta.main) process.exitCode = await main();
