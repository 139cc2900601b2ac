// Plan features and data residency, enforced before a route does any work. Both read only the
// principal (its plan's features and its residency region are loaded with the API key and cached
// with it), so an allowed request costs no query; a refusal looks up the cheapest plan to name.
import type { FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import type pg from "pg";
import { FEATURE_LABELS, type PlanFeature } from "../db/plans.ts";
import type { Principal } from "./auth.ts";
import { Problem } from "./problem.ts";

export interface FeatureGateOptions {
  pool: pg.Pool;
  publicBaseUrl: string;
}

/** The smallest plan (by rank) whose features include `feature`, or undefined when none does. */
export async function cheapestPlanWith(
  pool: pg.Pool,
  feature: PlanFeature,
): Promise<{ id: string; name: string } | undefined> {
  const { rows } = await pool.query<{ id: string; name: string }>(
    `SELECT p.id, p.name FROM plans p JOIN plan_features f ON f.plan_id = p.id
      WHERE f.feature = $1 ORDER BY p.rank LIMIT 1`,
    [feature],
  );
  return rows[0];
}

export async function featureProblem(
  options: FeatureGateOptions,
  principal: Principal,
  feature: PlanFeature,
): Promise<Problem> {
  const plan = await cheapestPlanWith(options.pool, feature);
  const label = FEATURE_LABELS[feature];
  return new Problem({
    type: "plan-feature-required",
    title: "Not included in your plan",
    status: 403,
    detail: plan
      ? `${label} is not included in the ${principal.planId} plan. It is included from the ${plan.name} plan up: upgrade at ${options.publicBaseUrl}/billing/upgrade?plan=${plan.id}.`
      : `${label} is not included in any plan on sale; ask your account team.`,
    feature,
    plan: principal.planId,
    ...(plan
      ? { requiredPlan: plan.id, upgradeUrl: `${options.publicBaseUrl}/billing/upgrade?plan=${plan.id}` }
      : {}),
  });
}

/** A preHandler refusing callers whose plan lacks `feature` (403 naming the plan that has it). */
export function requireFeature(
  options: FeatureGateOptions,
  feature: PlanFeature,
): preHandlerAsyncHookHandler {
  return async (request: FastifyRequest) => {
    const principal = request.principal;
    if (!principal) throw new Error("route is missing authentication");
    if (!principal.features.has(feature)) throw await featureProblem(options, principal, feature);
  };
}

export interface RegionIdentity {
  /** This region's name (REGION_NAME), e.g. us-east-1. */
  name: string;
  /** The other region's name and public URL, when known. */
  peerName?: string;
  peerUrl?: string;
}

/**
 * A tenant pinned to another region is not served here: its requests are refused (never proxied,
 * which would carry its data through this region) with where it lives instead.
 */
export function residencyProblem(principal: Principal, region: RegionIdentity): Problem | undefined {
  const home = principal.dataResidencyRegion;
  if (!home || home === region.name) return undefined;
  const baseUrl = home === region.peerName ? region.peerUrl : undefined;
  return new Problem({
    type: "wrong-region",
    title: "Tenant served in another region",
    status: 421,
    detail: baseUrl
      ? `Tenant ${principal.tenantSlug} is pinned to ${home} for data residency and is served only there, not in ${region.name}. Send its requests to ${baseUrl}.`
      : `Tenant ${principal.tenantSlug} is pinned to ${home} for data residency and is served only there, not in ${region.name}. This deployment has no API in ${home}; ask your account team for its address.`,
    region: home,
    ...(baseUrl ? { baseUrl } : {}),
  });
}
