import { describe, expect, it } from "vitest";
import type { Plan } from "../api/plan.ts";
import type { Tenant } from "../api/tenant.ts";
import { tenantsOnPlan } from "../controllers/tenant/mappers.ts";
import { referencedBy } from "./mappers.ts";

const tenant = (name: string, plan: string, namespace = "tenants") =>
  ({ kind: "Tenant", metadata: { name, namespace }, spec: { plan } }) as Tenant;
const plan = (name: string) => ({ kind: "Plan", metadata: { name } }) as Plan;

describe("referencedBy", () => {
  const tenants = [tenant("acme", "starter"), tenant("globex", "growth"), tenant("initech", "starter", "eu")];

  it("maps a cluster-scoped object to every object naming it, in any namespace", () => {
    expect(tenantsOnPlan({ list: () => tenants })(plan("starter"))).toEqual([
      { namespace: "tenants", name: "acme" },
      { namespace: "eu", name: "initech" },
    ]);
    expect(tenantsOnPlan({ list: () => tenants })(plan("enterprise"))).toEqual([]);
  });

  it("keeps a namespaced object's references within its namespace", () => {
    const byName = referencedBy<Tenant>({ list: () => tenants }, (t) => t.spec.plan);
    expect(byName({ metadata: { name: "starter", namespace: "eu" } })).toEqual([
      { namespace: "eu", name: "initech" },
    ]);
  });
});
