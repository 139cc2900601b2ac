// Overage visibility: where each meter stands in its period (asking ops for more: limit-increases.ts).
import { z } from "zod";
import type { FastifyPluginAsync } from "fastify";
import type { AppContext } from "../http/app.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { periodBounds, usagePercent, warningLevel, type MeterPeriod } from "../metering/meters.ts";
import { readCanaryRoute } from "../routing/read-canary.ts";

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

export const usageRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();

  const usageContract = documented({
    summary: "Where each meter stands in its period",
    tag: "usage",
    auth: "api-key",
    responses: { 200: { description: "Every meter of the tenant's plan, with overage", body: usage } },
    problems: [],
  });
  app.get("/v1/usage", readCanaryRoute(usageContract), async (request) => {
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
};
