// The spot pricing model as the stacks create it: one PricingModel whose only version is the engine's
// current pricing data (app/pricing/data.ts) as champion, so the pricing controller publishes the
// split the quote API prices with from the first deploy. Experiments are run by ops with kubectl
// (docs/runbooks/pricing-experiments.md): they add versions, move the aliases and edit the steps;
// the stacks ignore those fields so `pulumi up` neither reverts an experiment nor fights over it.
import { PRICING } from "../../app/pricing/data.ts";
import { DEFAULT_PRICING_MODEL } from "../../app/pricing/pricing-splits.ts";
import { apiVersion } from "../../operators/api/group.ts";
import type { ModelVersion, PricingModel } from "../../operators/api/pricingmodel.ts";

/** The model every spot quote is priced with (pricing_model_splits.model; the app's PRICING_MODEL). */
export const SPOT_PRICING_MODEL = DEFAULT_PRICING_MODEL;

/**
 * The engine's pricing data as a model version: multipliers of 1 and its margin. The floor sits
 * below the engine's margin so it only ever catches a version that would price too close to cost.
 */
export const ENGINE_VERSION: ModelVersion = {
  name: PRICING.version,
  description: "The engine's pricing data as shipped (app/pricing/data.ts).",
  coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: PRICING.marginRate },
  guardrails: { minMarginPercent: 8 },
};

/** What ops edit during an experiment, left to them after the first deploy. */
export const PRICING_MODEL_IGNORED_FIELDS = [
  "spec.aliases",
  "spec.steps",
  "spec.paused",
  "spec.abort",
  "spec.bucketVersion",
];

export function pricingModelObject(namespace: string): PricingModel {
  return {
    apiVersion,
    kind: "PricingModel",
    metadata: { name: SPOT_PRICING_MODEL, namespace },
    spec: { versions: [ENGINE_VERSION], aliases: { champion: ENGINE_VERSION.name } },
  };
}
