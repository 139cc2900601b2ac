// Overage visibility: where each meter stands in its period, and asking ops for more.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { METERS, periodBounds, usagePercent, warningLevel, type MeterPeriod } from "../metering/meters.ts";

interface UsageRow {
  meter: string;
  period: MeterPeriod;
  included: number;
  hard_ceiling: number;
  overage_allowed: boolean;
  overage_unit_price_cents: number | null;
  used: number;
  now: Date;
}

const limitIncreaseRequest = z.strictObject({
  meter: z.enum(METERS, `must be one of ${METERS.join(", ")}`),
  requestedLimit: z
    .number("must be a number of units per period")
    .int("must be a whole number")
    .positive("must be more than 0")
    .max(1_000_000_000, "must be at most 1,000,000,000"),
  reason: z
    .string("must say why the increase is needed")
    .trim()
    .min(3, "must say why (at least 3 characters)")
    .max(2000),
});

const usage = z.strictObject({
  tenant: z.string(),
  plan: z.string(),
  meters: z.array(
    z.strictObject({
      meter: z.string(),
      period: z.enum(["day", "month"]),
      periodStart: z.iso.datetime(),
      resetsAt: z.iso.datetime(),
      used: z.int(),
      included: z.int(),
      ceiling: z.int(),
      percent: z.number(),
      warningLevel: z.string(),
      overage: z.strictObject({
        allowed: z.boolean(),
        unitPriceCents: z.int().nullable(),
        units: z.int(),
        billableCents: z.int(),
      }),
    }),
  ),
});

const openRequest = z.strictObject({
  id: z.guid(),
  meter: z.enum(METERS),
  requestedLimit: z.int(),
  reason: z.string(),
  status: z.literal("open"),
  createdAt: z.iso.datetime(),
});

export const usageRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();

  const usageContract = documented({
    summary: "Where each meter stands in its period",
    tag: "usage",
    auth: "api-key",
    responses: { 200: { description: "Every meter of the tenant's plan, with overage", body: usage } },
    problems: [],
  });
  app.get("/v1/usage", usageContract, async (request) => {
    const rows = await ctx.asTenant(request, async (db) => {
      const result = await db.query<UsageRow>(
        `SELECT e.meter, e.period, e.included, e.hard_ceiling, e.overage_allowed, e.overage_unit_price_cents,
                coalesce(u.used, 0) AS used, now() AS now
           FROM entitlements e
           LEFT JOIN usage_counters u
             ON u.tenant_id = e.tenant_id AND u.meter = e.meter
            AND u.period_start = date_trunc(CASE e.period WHEN 'day' THEN 'day' ELSE 'month' END, now(), 'UTC')
          ORDER BY e.meter`,
      );
      return result.rows;
    });
    return {
      tenant: request.principal?.tenantSlug,
      plan: request.principal?.planId,
      meters: rows.map((row) => {
        const { start, resetsAt } = periodBounds(row.period, row.now);
        const percent = usagePercent(row.used, row.included);
        const overageUnits = Math.max(0, row.used - row.included);
        return {
          meter: row.meter,
          period: row.period,
          periodStart: start.toISOString(),
          resetsAt: resetsAt.toISOString(),
          used: row.used,
          included: row.included,
          ceiling: row.hard_ceiling,
          percent,
          warningLevel: warningLevel(percent),
          overage: {
            allowed: row.overage_allowed,
            unitPriceCents: row.overage_unit_price_cents,
            units: overageUnits,
            // Beyond the included quantity without billed overage is the soft-cap grace: free, but capped.
            billableCents: row.overage_allowed ? overageUnits * (row.overage_unit_price_cents ?? 0) : 0,
          },
        };
      }),
    };
  });

  const increaseContract = documented({
    summary: "Ask ops for a higher limit on a meter",
    tag: "usage",
    auth: "api-key",
    idempotent: true,
    body: limitIncreaseRequest,
    responses: { 201: { description: "The request, open until ops decides", body: openRequest } },
    problems: [],
  });
  app.post("/v1/limit-increase-requests", increaseContract, async (request, reply) => {
    const body = request.body;
    return ctx.idempotent(request, reply, async (db) => {
      const { rows } = await db.query<{ id: string; created_at: Date }>(
        `INSERT INTO limit_increase_requests (tenant_id, meter, requested_limit, reason)
         VALUES (current_tenant_id(), $1, $2, $3) RETURNING id, created_at`,
        [body.meter, body.requestedLimit, body.reason],
      );
      const row = rows[0] as { id: string; created_at: Date };
      return {
        statusCode: 201,
        body: {
          id: row.id,
          meter: body.meter,
          requestedLimit: body.requestedLimit,
          reason: body.reason,
          status: "open",
          createdAt: row.created_at.toISOString(),
        },
      };
    });
  });
};
