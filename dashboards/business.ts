// Business figures (conversions, revenue) as SQL over the app schema, read with the read-only
// `freight_ops` role. The same statements feed the Grafana PostgreSQL panels and the weekly
// executive report, so the two can never disagree. They use Grafana's `$__timeFrom()` and
// `$__timeTo()` macros; `bindTimeRange` turns them into query parameters for node-postgres.
//
// The schema keeps current state, not history: a tenant is counted as paying at time t when it
// existed, its trial had ended and it is active/past due now, or it was canceled (disabled_at)
// after t. Plan changes are not historized yet, so revenue uses each tenant's current plan price;
// churn and overage are exact.

export interface BusinessQuery {
  id: string;
  title: string;
  /** One line: what the figure means, shown beside the panel. */
  definition: string;
  unit: "percentunit" | "currencyUSD" | "none";
  sql: string;
}

/** Tenants paying at a point in time `$t` (a SQL expression). */
function payingAt(t: string): string {
  return `(t.created_at < ${t}
      AND (t.trial_ends_at IS NULL OR t.trial_ends_at <= ${t})
      AND (t.billing_status IN ('active', 'past_due')
           OR (t.billing_status = 'canceled' AND t.disabled_at > ${t})))`;
}

/** Overage revenue in cents per tenant for the calendar month containing `$t`: usage beyond the
 * included allowance of each period (a month, or each day of the month for daily meters). */
function overageByTenant(t: string): string {
  return `SELECT u.tenant_id,
           sum(greatest(u.used - e.included, 0) * coalesce(e.overage_unit_price_cents, 0))::bigint AS overage_cents
      FROM usage_counters u
      JOIN entitlements e ON e.tenant_id = u.tenant_id AND e.meter = u.meter
     WHERE u.period_start >= date_trunc('month', ${t} - interval '1 microsecond')
       AND u.period_start < ${t}
     GROUP BY u.tenant_id`;
}

/** Monthly recurring revenue per tenant paying at `$t`: plan price plus that month's overage. */
function revenueByTenant(t: string): string {
  return `SELECT t.id AS tenant_id,
           p.monthly_price_cents AS subscription_cents,
           coalesce(o.overage_cents, 0) AS overage_cents
      FROM tenants t
      JOIN plans p ON p.id = t.plan_id
      LEFT JOIN (${overageByTenant(t)}) o ON o.tenant_id = t.id
     WHERE ${payingAt(t)}`;
}

const FROM = "$__timeFrom()";
const TO = "$__timeTo()";

export const CONVERSIONS: readonly BusinessQuery[] = [
  {
    id: "trial_to_paid",
    title: "Trial -> paid",
    definition:
      "Of the trials that ended in the period, the share that converted: started paying (recorded by billing as it happened).",
    unit: "percentunit",
    // trial_conversions has one row per tenant, written when a trial tenant starts paying.
    sql: `SELECT count(c.tenant_id)::float8 / nullif(count(*), 0) AS value
  FROM tenants t
  LEFT JOIN trial_conversions c ON c.tenant_id = t.id
 WHERE t.trial_ends_at >= ${FROM} AND t.trial_ends_at < ${TO}`,
  },
  {
    id: "quote_to_book",
    title: "Quote -> book",
    definition: "Of the quotes created in the period, the share that was booked.",
    unit: "percentunit",
    sql: `SELECT count(b.id)::float8 / nullif(count(q.id), 0) AS value
  FROM quotes q
  LEFT JOIN bookings b ON b.quote_id = q.id
 WHERE q.created_at >= ${FROM} AND q.created_at < ${TO}`,
  },
  {
    id: "invite_to_onboard",
    title: "Directory invite -> onboard",
    definition:
      "Of the carrier invites sent in the period, the share onboarded: the carrier accepted and its compliance documents are on file.",
    unit: "percentunit",
    // onboarded_at is set by the API or the compliance job (app/growth/carrier-compliance.ts).
    sql: `SELECT count(*) FILTER (WHERE i.onboarded_at IS NOT NULL)::float8 / nullif(count(*), 0) AS value
  FROM carrier_invites i
 WHERE i.created_at >= ${FROM} AND i.created_at < ${TO}`,
  },
];

export const REVENUE: readonly BusinessQuery[] = [
  {
    id: "mrr",
    title: "MRR",
    definition:
      "Monthly recurring revenue at the end of the period: plan prices of paying tenants plus this month's overage.",
    unit: "currencyUSD",
    sql: `SELECT coalesce(sum(r.subscription_cents + r.overage_cents), 0)::float8 / 100 AS value
  FROM (${revenueByTenant(TO)}) r`,
  },
  {
    id: "arpa",
    title: "ARPA",
    definition: "Average revenue per paying account at the end of the period (MRR / paying tenants).",
    unit: "currencyUSD",
    sql: `SELECT avg(r.subscription_cents + r.overage_cents)::float8 / 100 AS value
  FROM (${revenueByTenant(TO)}) r`,
  },
  {
    id: "overage_share",
    title: "Overage share of MRR",
    definition: "Share of MRR that comes from usage beyond the included allowance (this month so far).",
    unit: "percentunit",
    sql: `SELECT sum(r.overage_cents)::float8 / nullif(sum(r.subscription_cents + r.overage_cents), 0) AS value
  FROM (${revenueByTenant(TO)}) r`,
  },
  {
    id: "logo_churn",
    title: "Churn",
    definition:
      "Share of the tenants paying at the start of the period that canceled during it (logo churn).",
    unit: "percentunit",
    sql: `SELECT count(*) FILTER (WHERE t.billing_status = 'canceled' AND t.disabled_at < ${TO})::float8
       / nullif(count(*), 0) AS value
  FROM tenants t
 WHERE ${payingAt(FROM)}`,
  },
  {
    id: "nrr",
    title: "NRR",
    definition:
      "Net revenue retention: revenue now from the tenants paying at the start of the period, over their revenue then.",
    unit: "percentunit",
    sql: `SELECT coalesce(sum(now_r.subscription_cents + now_r.overage_cents), 0)::float8
       / nullif(sum(then_r.subscription_cents + then_r.overage_cents), 0) AS value
  FROM (${revenueByTenant(FROM)}) then_r
  LEFT JOIN (${revenueByTenant(TO)}) now_r ON now_r.tenant_id = then_r.tenant_id`,
  },
  {
    id: "paying_tenants",
    title: "Paying tenants",
    definition: "Tenants paying at the end of the period (trial over, not canceled).",
    unit: "none",
    sql: `SELECT count(*)::float8 AS value FROM tenants t WHERE ${payingAt(TO)}`,
  },
];

/** NPS (promoters 9-10 minus detractors 0-6, in points) of the answers given in the period by one
 * milestone's cohort (app/growth/nps.ts): trialists at day 21, paying tenants at day 90. */
function npsOfCohort(milestone: "trial_day_21" | "paid_day_90"): string {
  return `SELECT (100.0 * (count(*) FILTER (WHERE s.score >= 9) - count(*) FILTER (WHERE s.score <= 6))
         / nullif(count(*), 0))::float8 AS value
  FROM nps_surveys s
 WHERE s.milestone = '${milestone}' AND s.responded_at >= ${FROM} AND s.responded_at < ${TO}`;
}

export const NPS: readonly BusinessQuery[] = [
  {
    id: "nps_trial_day_21",
    title: "NPS: trial cohort (day 21)",
    definition:
      "Net promoter score (% scoring 9-10 minus % scoring 0-6) of the trial day 21 surveys answered in the period.",
    unit: "none",
    sql: npsOfCohort("trial_day_21"),
  },
  {
    id: "nps_paid_day_90",
    title: "NPS: paid cohort (day 90)",
    definition:
      "Net promoter score (% scoring 9-10 minus % scoring 0-6) of the paid day 90 surveys answered in the period.",
    unit: "none",
    sql: npsOfCohort("paid_day_90"),
  },
  {
    id: "nps_response_rate",
    title: "NPS response rate",
    definition: "Of the NPS surveys that closed or were answered in the period, the share answered.",
    unit: "percentunit",
    sql: `SELECT count(*) FILTER (WHERE s.responded_at IS NOT NULL)::float8 / nullif(count(*), 0) AS value
  FROM nps_surveys s
 WHERE coalesce(s.responded_at, s.expires_at) >= ${FROM} AND coalesce(s.responded_at, s.expires_at) < ${TO}`,
  },
];

export const BUSINESS_QUERIES: readonly BusinessQuery[] = [...CONVERSIONS, ...NPS, ...REVENUE];

/**
 * The statement as a node-postgres query: Grafana's `$__timeFrom()` and `$__timeTo()` macros become
 * numbered parameters (only those the statement uses, so PostgreSQL can type every parameter).
 */
export function bindTimeRange(sql: string, from: Date, to: Date): { text: string; values: Date[] } {
  const values: Date[] = [];
  const numbers = new Map<string, number>();
  const text = sql.replace(/\$__time(From|To)\(\)/g, (_macro, which: string) => {
    let n = numbers.get(which);
    if (n === undefined) {
      values.push(which === "From" ? from : to);
      n = values.length;
      numbers.set(which, n);
    }
    return `$${n}::timestamptz`;
  });
  const leftover = /\$__\w+/.exec(text);
  if (leftover) {
    throw new Error(
      `Business SQL uses the Grafana macro ${leftover[0]}, which bindTimeRange cannot bind; use $__timeFrom()/$__timeTo().`,
    );
  }
  return { text, values };
}
