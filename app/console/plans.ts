// What the next plan up adds over the tenant's, in the words the Upgrade page shows: features the
// tenant does not have yet, and meters whose included quantity grows. Read from the plan tables the
// tenant controller keeps in step with the Plan resources, so the page and the API's limits agree.
import type pg from "pg";
import { FEATURE_LABELS, type PlanFeature } from "../db/plans.ts";
import { meterName } from "./banner.ts";
import { count } from "./html.ts";

export interface PlanUp {
  id: string;
  name: string;
  monthlyPriceCents: number;
  /** Sentences, features first: "Bulk rating", "25,000 quotes a month (now 1,000)". */
  adds: string[];
}

interface PlanRow {
  id: string;
  name: string;
  rank: number;
  monthly_price_cents: string;
  features: PlanFeature[];
  meters: { meter: string; period: string; included: string }[];
}

/** The smallest plan ranked above `currentPlanId`, or undefined on the largest self-serve plan. */
export async function nextPlanUp(pool: pg.Pool, currentPlanId: string): Promise<PlanUp | undefined> {
  const { rows } = await pool.query<PlanRow>(
    `SELECT p.id, p.name, p.rank, p.monthly_price_cents,
            ARRAY(SELECT f.feature FROM plan_features f WHERE f.plan_id = p.id ORDER BY f.feature) AS features,
            coalesce((SELECT json_agg(json_build_object('meter', m.meter, 'period', m.period, 'included', m.included)
                                      ORDER BY m.meter)
                        FROM plan_meters m WHERE m.plan_id = p.id), '[]') AS meters
       FROM plans p ORDER BY p.rank`,
  );
  const current = rows.find((p) => p.id === currentPlanId);
  const next = rows.find((p) => current && p.rank > current.rank);
  if (!current || !next) return undefined;
  const had = new Set(current.features);
  const features = next.features.filter((f) => !had.has(f)).map((f) => FEATURE_LABELS[f] ?? f);
  const meters = next.meters.flatMap((m) => {
    const now = current.meters.find((c) => c.meter === m.meter);
    if (now && Number(now.included) >= Number(m.included)) return [];
    const was = now ? ` (now ${count(Number(now.included))})` : "";
    return [`${count(Number(m.included))} ${meterName(m.meter)} a ${m.period}${was}`];
  });
  return {
    id: next.id,
    name: next.name,
    monthlyPriceCents: Number(next.monthly_price_cents),
    adds: [...features, ...meters],
  };
}
