// The plan catalogue as Plan objects, so a new cluster has plans before the first Tenant: the same
// definitions that seed local and test databases (app/db/plans.ts), in the shape of the Plan CRD
// (operators/api/plan.ts). Pulumi owns them: a plan changes in code and ships with `pulumi up`,
// and the tenant controller propagates it to every tenant on it.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import type { PlanDefinition } from "../../app/db/plans.ts";
import { apiVersion } from "../../operators/api/group.ts";
import { METER_NAMES } from "../../operators/api/meters.ts";
import type { Plan } from "../../operators/api/plan.ts";

export function planObject(plan: PlanDefinition): Plan {
  return {
    apiVersion,
    kind: "Plan",
    metadata: { name: plan.id },
    spec: {
      displayName: plan.name,
      rank: plan.rank,
      monthlyPriceCents: plan.monthlyPriceCents,
      meters: METER_NAMES.map((name) => {
        const meter = plan.meters[name];
        return {
          name,
          included: meter.included,
          overageAllowed: meter.overageAllowed,
          ...(meter.overageUnitPriceCents === null
            ? {}
            : { overageUnitPriceCents: meter.overageUnitPriceCents }),
          hardCeiling: meter.hardCeiling,
        };
      }),
      rateLimits: plan.rateLimits,
      features: Object.fromEntries(plan.features.map((feature) => [feature, true])),
    },
  };
}

export interface PlanCatalogueArgs {
  plans: PlanDefinition[];
  /** The Plan CRD (and anything else the objects wait for). */
  dependsOn: pulumi.Resource[];
}

export class PlanCatalogue extends pulumi.ComponentResource {
  readonly planNames: string[];

  constructor(name: string, args: PlanCatalogueArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:PlanCatalogue", name, {}, opts);
    for (const plan of args.plans) {
      new k8s.apiextensions.CustomResource(`${name}-${plan.id}`, planObject(plan), {
        parent: this,
        dependsOn: args.dependsOn,
      });
    }
    this.planNames = args.plans.map((p) => p.id);
    this.registerOutputs({ planNames: this.planNames });
  }
}
