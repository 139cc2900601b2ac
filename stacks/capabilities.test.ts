// The capability checks the deploy contract runs, against the real planned stacks: both regions as
// production runs them deploy every capability their role needs, and taking a piece away again is
// reported by name (so the contract cannot pass on a check that never fails).
import { beforeAll, describe, expect, it } from "vitest";

import { CAPABILITIES, PRODUCTION_CONFIG, regionDeployment, type RegionDeployment } from "./capabilities.ts";
import { kubernetesManifests } from "./manifests.ts";
import { planStack, type PlannedStack } from "./plan.ts";

let primary: PlannedStack;
let secondary: PlannedStack;

beforeAll(async () => {
  [primary, secondary] = await Promise.all([
    planStack("prod-primary", { config: PRODUCTION_CONFIG["prod-primary"] }),
    planStack("prod-secondary", { config: PRODUCTION_CONFIG["prod-secondary"] }),
  ]);
}, 120_000);

const deployment = (plan: PlannedStack): RegionDeployment =>
  regionDeployment(plan, kubernetesManifests(plan));
const missing = (d: RegionDeployment, id: string) => CAPABILITIES.find((c) => c.id === id)!.missing(d);
const required = (d: RegionDeployment) => CAPABILITIES.filter((c) => !c.required || c.required(d));

interface Container {
  name: string;
  env: { name: string; value?: string }[];
}
function container(plan: PlannedStack, name: string): Container {
  const r = plan.resources.find(
    (x) =>
      x.type === "kubernetes:apps/v1:Deployment" && (x.props["metadata"] as { name: string }).name === name,
  )!;
  return (r.props["spec"] as { template: { spec: { containers: Container[] } } }).template.spec
    .containers[0]!;
}

describe("capability checks", () => {
  it("pass for both regions as production runs them, each with the capabilities its role needs", () => {
    for (const d of [deployment(primary), deployment(secondary)]) {
      const gaps = required(d).flatMap((c) => c.missing(d).map((m) => `${d.stack} ${c.id}: ${m}`));
      expect(gaps).toEqual([]);
    }
    // Release Jobs and schedules run where writes go; the failover controller where failover is on.
    const ids = (d: RegionDeployment) => required(d).map((c) => c.id);
    expect(ids(deployment(primary))).toEqual(
      expect.arrayContaining(["migrations-before-traffic", "billing"]),
    );
    expect(ids(deployment(primary))).not.toContain("failover-controller");
    expect(ids(deployment(secondary))).toContain("failover-controller");
    expect(ids(deployment(secondary))).not.toContain("usage-warnings-schedule");
    expect(ids(deployment(primary))).toContain("pricing-experiments");
    expect(ids(deployment(secondary))).not.toContain("pricing-experiments");
  });

  it("name what a region lacks when a piece is taken away again", () => {
    const api = structuredClone(primary);
    const quoteApi = api.resources.find(
      (r) =>
        r.type === "kubernetes:apps/v1:Deployment" &&
        (r.props["metadata"] as { name: string }).name === "quote-api",
    )!;
    quoteApi.opts = { ...quoteApi.opts, dependsOn: [] };
    const peer = container(api, "quote-api");
    peer.env = peer.env.filter((e) => e.name !== "REGION_PEER_URL");
    const d = deployment(api);
    expect(missing(d, "migrations-before-traffic")).toEqual([
      expect.stringMatching(/^Deployment quote-api does not wait for Job migrate-.* \(dependsOn\)$/),
    ]);
    expect(missing(d, "region-peer-redirect")).toEqual(["the quote API has no REGION_PEER_URL"]);

    const failover = structuredClone(secondary);
    const operators = container(failover, "freight-operators");
    operators.env = operators.env.filter((e) => e.name !== "FAILOVER_DATABASE_DRIVER");
    expect(missing(deployment(failover), "failover-controller")).toEqual([
      "FAILOVER_DATABASE_DRIVER is postgres, not rds",
    ]);
    const unfenced = structuredClone(secondary);
    const controller = container(unfenced, "freight-operators");
    controller.env = controller.env.filter((e) => e.name !== "RDS_PRIMARY_FENCE_SECURITY_GROUP");
    expect(missing(deployment(unfenced), "failover-controller")).toEqual([
      "the operators Deployment names no RDS_*_FENCE_SECURITY_GROUP: an unplanned flip holds at Fence",
    ]);

    const unscheduled = structuredClone(primary);
    unscheduled.resources = unscheduled.resources.filter((r) => r.type !== "kubernetes:batch/v1:CronJob");
    expect(missing(deployment(unscheduled), "usage-warnings-schedule")).not.toEqual([]);

    const unpriced = structuredClone(primary);
    unpriced.resources = unpriced.resources.filter((r) => !r.type.endsWith(":PricingModel"));
    expect(missing(deployment(unpriced), "pricing-experiments")).toEqual(["no PricingModel object"]);
    const elsewhere = structuredClone(primary);
    const manager = container(elsewhere, "freight-operators");
    manager.env = manager.env.map((e) => (e.name === "PRICING_NAMESPACE" ? { ...e, value: "pricing" } : e));
    expect(missing(deployment(elsewhere), "pricing-experiments")).toEqual([
      "the PricingModel spot is in namespace freight-system, but the operators serve PRICING_NAMESPACE=pricing",
    ]);

    const open = structuredClone(secondary);
    open.resources = open.resources.filter((r) => r.name !== "network-policies-freight-system-default-deny");
    expect(missing(deployment(open), "network-isolation")).toEqual([
      "namespace freight-system runs pods but has no default-deny NetworkPolicy for ingress and egress",
    ]);
  });
});
