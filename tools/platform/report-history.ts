// Realistic business history for the executive report's demo and tests, on top of the app's demo
// seed (plans, carriers, three tenants): about thirty tenants over half a year, trials that convert
// or lapse, a few cancellations, ten weeks of quotes with bookings, carrier invites, and this
// month's metered usage with some tenants in overage, and NPS surveys at each milestone, most answered. The shape is deterministic for a given `now`
// (ids are random, so individual bookings vary slightly between runs).
//
// It writes the way the platform does: tenants, entitlements and usage as the operator role,
// quotes, bookings and invites as the app role inside each tenant's row-level security context.
import { createPool, transaction } from "../../app/db/pool.ts";
import { provisionTenant } from "../../app/db/seed.ts";
import { runUsageBreachCheck } from "../../app/ops/usage-warnings.ts";
import { answerNpsSurvey, inviteNpsSurveys } from "../../app/growth/nps.ts";

export interface ReportSeedOptions {
  /** The moment the history ends (the report's week end); defaults to now. */
  now?: Date;
  /** Connection URLs of the operator, app and billing roles (TestDatabase.urls has them). */
  urls: { operator: string; app: string; billing: string };
}

export interface ReportSeedSummary {
  tenants: number;
  quotes: number;
  bookings: number;
  invites: number;
}

const DAY_MS = 86_400_000;

const COMPANIES = [
  "Bluewater Freight",
  "Cascade Carriers",
  "Desert Line Logistics",
  "Evergreen Haulage",
  "Frontier Transport",
  "Granite State Shipping",
  "Harbor Point Logistics",
  "Ironwood Freightways",
  "Juniper Cargo",
  "Keystone Dispatch",
  "Lakeside Brokerage",
  "Midland Express",
  "Northstar Drayage",
  "Oakridge Logistics",
  "Prairie Wind Freight",
  "Quarry Road Trucking",
  "Riverbend Transport",
  "Summit Cold Chain",
  "Tidewater Lines",
  "Union Pacific Brokers",
  "Valley Reefer Co",
  "Westgate Forwarding",
  "Yellowstone Carriers",
  "Zephyr Logistics",
  "Anchor Bay Freight",
  "Bridgeport Haulers",
  "Copperline Shipping",
];

/** A small deterministic generator (mulberry32), so the demo history is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface TenantPlan {
  slug: string;
  name: string;
  planId: "starter" | "pro" | "enterprise";
  createdAt: Date;
  trialEndsAt: Date | null;
  billingStatus: "trialing" | "active" | "past_due" | "canceled";
  disabledAt: Date | null;
  /** Quotes a day on a typical weekday. */
  dailyQuotes: number;
  /** Share of this month's included quotes used so far. */
  quoteUsage: number;
}

function planTenants(now: Date): TenantPlan[] {
  const next = random(20_261_127);
  const ago = (days: number) => new Date(now.getTime() - days * DAY_MS);
  return COMPANIES.map((name, i) => {
    const planId = i % 7 === 0 ? "enterprise" : i % 3 === 0 ? "starter" : "pro";
    const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-");
    // The first sixteen signed up in the last ten weeks with a 14-day trial; the rest are established customers.
    const recent = i < 16;
    const createdAt = recent ? ago(4 + i * 4 + Math.floor(next() * 3)) : ago(90 + Math.floor(next() * 150));
    const trialEndsAt = recent ? new Date(createdAt.getTime() + 14 * DAY_MS) : null;
    let billingStatus: TenantPlan["billingStatus"] = "active";
    let disabledAt: Date | null = null;
    if (trialEndsAt && trialEndsAt > now) billingStatus = "trialing";
    else if (trialEndsAt && next() < 0.3) {
      billingStatus = "canceled"; // the trial lapsed without converting
      disabledAt = trialEndsAt;
    } else if (i === 19 || i === 23) {
      billingStatus = "canceled"; // churned in the last few weeks (one of them this week)
      disabledAt = ago(i === 19 ? 3 : 17 + Math.floor(next() * 20));
    } else if (!recent && i % 11 === 5) billingStatus = "past_due";
    const base = planId === "enterprise" ? 60 : planId === "pro" ? 18 : 4;
    return {
      slug,
      name,
      planId,
      createdAt,
      trialEndsAt,
      billingStatus,
      disabledAt,
      dailyQuotes: Math.max(1, Math.round(base * (0.6 + next() * 0.8))),
      quoteUsage: 0.35 + next() * 1.0,
    };
  });
}

const LANES = [
  ["Chicago, IL", "Dallas, TX", 925],
  ["Atlanta, GA", "Miami, FL", 662],
  ["Los Angeles, CA", "Phoenix, AZ", 373],
  ["Newark, NJ", "Columbus, OH", 520],
  ["Seattle, WA", "Portland, OR", 174],
  ["Memphis, TN", "Denver, CO", 1040],
  ["Houston, TX", "Kansas City, MO", 742],
  ["Charlotte, NC", "Nashville, TN", 409],
] as const;

const LANES_SQL = `(VALUES ${LANES.map(([o, d, miles], i) => `(${i}, '${o}', '${d}', ${miles})`).join(", ")}) AS lane(n, origin, destination, miles)`;

export async function seedReportHistory(options: ReportSeedOptions): Promise<ReportSeedSummary> {
  const now = options.now ?? new Date();
  const operator = createPool(options.urls.operator, 2);
  const app = createPool(options.urls.app, 2);
  try {
    const tenants = planTenants(now);
    const ids = new Map<string, string>();
    for (const tenant of tenants) {
      const provisioned = await provisionTenant(operator, {
        slug: tenant.slug,
        name: tenant.name,
        planId: tenant.planId,
        billingStatus: tenant.billingStatus,
      });
      ids.set(tenant.slug, provisioned.tenantId);
      await operator.query(
        `UPDATE tenants SET created_at = $2, trial_ends_at = $3, disabled_at = $4 WHERE id = $1`,
        [provisioned.tenantId, tenant.createdAt, tenant.trialEndsAt, tenant.disabledAt],
      );
    }
    // Billing records a conversion when a trial tenant starts paying (app/billing/trial.ts): here, at
    // the end of each converted trial.
    const billing = createPool(options.urls.billing, 1);
    try {
      for (const tenant of tenants.filter(
        (t) => t.trialEndsAt && t.trialEndsAt <= now && ["active", "past_due"].includes(t.billingStatus),
      ))
        await billing.query(
          `INSERT INTO trial_conversions (tenant_id, trial_ends_at, plan_id, converted_at) VALUES ($1, $2, $3, $2)`,
          [ids.get(tenant.slug), tenant.trialEndsAt, tenant.planId],
        );
    } finally {
      await billing.end();
    }
    // The app's demo tenants are long-standing customers in this history.
    await operator.query(
      `UPDATE tenants SET created_at = $1 WHERE slug IN ('acme-logistics', 'globex-freight', 'initech-shipping')`,
      [new Date(now.getTime() - 300 * DAY_MS)],
    );
    const demo = await operator.query<{ id: string; slug: string; plan_id: string }>(
      `SELECT id, slug, plan_id FROM tenants WHERE slug IN ('acme-logistics', 'globex-freight', 'initech-shipping')`,
    );
    const everyone = [
      ...tenants,
      ...demo.rows.map((row, i) => ({
        slug: row.slug,
        planId: row.plan_id,
        createdAt: new Date(now.getTime() - 300 * DAY_MS),
        disabledAt: null,
        dailyQuotes: [8, 25, 70][i] ?? 10,
        quoteUsage: [0.92, 1.08, 0.5][i] ?? 0.5,
      })),
    ];
    for (const row of demo.rows) ids.set(row.slug, row.id);

    const summary: ReportSeedSummary = { tenants: everyone.length, quotes: 0, bookings: 0, invites: 0 };
    for (const [index, tenant] of everyone.entries()) {
      const tenantId = ids.get(tenant.slug) as string;
      // Activity runs from ten weeks ago (or sign-up) to now (or cancellation).
      const start = new Date(Math.max(tenant.createdAt.getTime(), now.getTime() - 70 * DAY_MS));
      const end = tenant.disabledAt && tenant.disabledAt < now ? tenant.disabledAt : now;
      if (end <= start) continue;
      const counts = await transaction(app, async (db) => {
        await db.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
        // Quotes on every day, fewer at weekends; the booking rate climbs from ~18 % to ~30 %
        // over the ten weeks, which is the trend the report should show.
        const quotes = await db.query(
          `INSERT INTO quotes (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles,
                               linehaul_cents, fuel_surcharge_cents, margin_cents, total_cents, breakdown, pricing_version,
                               expires_at, created_at)
           SELECT $1::uuid, lane.origin, lane.destination,
                  (ARRAY['dry_van', 'reefer', 'flatbed'])[1 + abs(hashtext(q.at::text || $1::text)) % 3],
                  18000 + abs(hashtext($1::text || q.at::text)) % 24000,
                  (q.at + interval '3 days')::date,
                  lane.miles, lane.miles * 245, lane.miles * 58, lane.miles * 38, lane.miles * 341,
                  json_build_object('linehaulPerMileCents', 245, 'fuelPerMileCents', 58, 'marginPerMileCents', 38),
                  'demo-2026-11', q.at + interval '30 minutes', q.at
             FROM generate_series($2::timestamptz, $3::timestamptz, interval '1 day') AS d(day)
            CROSS JOIN LATERAL generate_series(1, CASE WHEN extract(isodow FROM d.day) >= 6
                                                       THEN greatest(1, $4::int / 4) ELSE $4::int END) AS n(i)
            CROSS JOIN LATERAL (SELECT d.day + (n.i * 37 % 600) * interval '1 minute' AS at) q
             JOIN ${LANES_SQL} ON lane.n = abs(hashtext($1::text || n.i::text || d.day::text)) % ${LANES.length}
            WHERE q.at < $3::timestamptz`,
          [tenantId, start, end, tenant.dailyQuotes],
        );
        const bookings = await db.query(
          `INSERT INTO bookings (tenant_id, quote_id, total_cents, created_at)
           SELECT q.tenant_id, q.id, q.total_cents, q.created_at + interval '12 minutes'
             FROM quotes q
            WHERE q.tenant_id = $1
              AND abs(hashtext(q.id::text)) % 1000
                  < 180 + 120 * extract(epoch FROM q.created_at - ($2::timestamptz - interval '70 days')) / (70 * 86400)`,
          [tenantId, now],
        );
        // Invites to a slice of the directory, spread over the ten weeks; a bit over half accepted,
        // most of those onboarded (documents on file) three days later.
        const invites = await db.query(
          `INSERT INTO carrier_invites (tenant_id, carrier_id, email, status, created_at, accepted_at, onboarded_at)
           SELECT $1::uuid, c.id, 'dispatch@' || lower(replace(c.name, ' ', '')) || '.example',
                  CASE WHEN abs(hashtext(c.id::text || $1::text)) % 100 < 56 THEN 'accepted' ELSE 'sent' END,
                  s.at,
                  CASE WHEN abs(hashtext(c.id::text || $1::text)) % 100 < 56 THEN s.at + interval '2 days' END,
                  CASE WHEN abs(hashtext(c.id::text || $1::text)) % 100 < 44 THEN s.at + interval '5 days' END
             FROM (SELECT id, name, row_number() OVER (ORDER BY mc_number) AS n FROM carriers) c
            CROSS JOIN LATERAL (SELECT $2::timestamptz
                                       + (abs(hashtext($1::text || c.id::text)) % 1000) / 1000.0 * ($3::timestamptz - $2::timestamptz)
                                       AS at) s
            WHERE c.n % 9 = $4 % 9 OR c.n % 13 = $4 % 13`,
          [tenantId, start, end, index],
        );
        return {
          quotes: quotes.rowCount ?? 0,
          bookings: bookings.rowCount ?? 0,
          invites: invites.rowCount ?? 0,
        };
      });
      summary.quotes += counts.quotes;
      summary.bookings += counts.bookings;
      summary.invites += counts.invites;
    }

    // This month's and last month's metered usage as the app records it (period_start in UTC),
    // some tenants beyond their included quotes: the overage share of MRR.
    await transaction(operator, async (db) => {
      for (const tenant of everyone) {
        if (tenant.disabledAt && tenant.disabledAt < now) continue;
        const tenantId = ids.get(tenant.slug) as string;
        await db.query(
          `INSERT INTO usage_counters (tenant_id, meter, period_start, used)
           SELECT e.tenant_id, e.meter, p.start, round(e.included * $2::float8 * p.share)::bigint
             FROM entitlements e
            CROSS JOIN (VALUES (date_trunc('month', $3::timestamptz, 'UTC'),
                                extract(day FROM $3::timestamptz) / extract(day FROM (date_trunc('month', $3::timestamptz, 'UTC') + interval '1 month - 1 day'))),
                               (date_trunc('month', $3::timestamptz, 'UTC') - interval '1 month', 1.0)) AS p(start, share)
            WHERE e.tenant_id = $1 AND e.meter IN ('quotes', 'directory_invites')
           ON CONFLICT (tenant_id, meter, period_start) DO UPDATE SET used = excluded.used`,
          [tenantId, tenant.quoteUsage, now],
        );
      }
    });
    // Record the 80/90/100 % warnings the nightly breach check would have recorded.
    await runUsageBreachCheck(operator, now);
    await seedNpsHistory(operator, app, now);
    return summary;
  } finally {
    await operator.end();
    await app.end();
  }
}

/**
 * The hourly NPS job as it would have run daily over the last four months, and the answers of about
 * seven in ten invited tenants a few days later (promoters, passives and detractors, by survey id).
 */
async function seedNpsHistory(
  operator: ReturnType<typeof createPool>,
  app: ReturnType<typeof createPool>,
  now: Date,
): Promise<void> {
  for (let days = 120; days >= 0; days--)
    await inviteNpsSurveys(operator, new Date(now.getTime() - days * DAY_MS));
  const { rows } = await operator.query<{ id: string; tenant_id: string; invited_at: Date; h: number }>(
    // Hashed on the tenant's slug and the milestone, not the random survey id: who answers, and how,
    // is the same on every run, so each cohort's NPS over the last 30 days always has answers.
    `SELECT s.id, s.tenant_id, s.invited_at, abs(hashtext(t.slug || '/' || s.milestone)) % 1000 AS h
       FROM nps_surveys s JOIN tenants t ON t.id = s.tenant_id`,
  );
  for (const survey of rows) {
    const answeredAt = new Date(survey.invited_at.getTime() + ((survey.h % 5) + 0.5) * DAY_MS);
    if (survey.h % 10 >= 7 || answeredAt >= now) continue;
    const bucket = Math.floor(survey.h / 10);
    const score = bucket < 45 ? 9 + (bucket % 2) : bucket < 75 ? 7 + (bucket % 2) : bucket % 7;
    await transaction(app, async (db) => {
      await db.query(`SELECT set_config('app.tenant_id', $1, true)`, [survey.tenant_id]);
      await answerNpsSurvey(db, survey.id, { score }, answeredAt);
    });
  }
}
