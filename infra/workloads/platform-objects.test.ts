// The custom resources the stacks deploy (the Plan catalogue, the RegionFailover), applied to a
// real kube-apiserver with the generated CRDs: each is accepted by the schema and its CEL rules and
// reads back as sent (a field the schema does not know would be pruned silently).
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { DEFAULT_PLANS } from "../../app/db/plans.ts";
import { crdsPath } from "../../operators/api/generate.ts";
import { enabledFeatures, type Plan } from "../../operators/api/plan.ts";
import type { RegionFailover } from "../../operators/api/regionfailover.ts";
import { plans as plansRef, regionFailovers } from "../../operators/api/resources.ts";
import { builtin, KubeClient } from "../../operators/runtime/kube.ts";
import { applyManifest, waitFor } from "../../tools/platform/operators.ts";
import { startCluster, type LocalCluster } from "../../tools/localcluster/fixture.ts";
import { regionFailoverObject } from "./operators.ts";
import { planObject } from "./plan-catalogue.ts";

let cluster: LocalCluster;
let admin: KubeClient;

beforeAll(async () => {
  cluster = await startCluster({ name: "plan-catalogue" });
  admin = new KubeClient(cluster.kubeConfig, { userAgent: "plan-catalogue-test" });
  await applyManifest(admin, crdsPath);
  for (const plural of ["plans", "regionfailovers"]) {
    await waitFor(`the ${plural} CRD established`, async () => {
      const crd = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
        builtin.crds,
        `${plural}.platform.freight.dev`,
      );
      return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    });
  }
}, 120_000);

afterAll(async () => {
  admin?.close();
  await cluster?.stop();
});

describe("the deployed platform objects", () => {
  it("the plan catalogue is accepted by the Plan CRD and reads back unchanged", async () => {
    expect(DEFAULT_PLANS.length).toBeGreaterThan(0);
    for (const plan of DEFAULT_PLANS) {
      const object = planObject(plan);
      await admin.apply(plansRef, object, { fieldManager: "pulumi-kubernetes" });
      const stored = await admin.get<Plan>(plansRef, plan.id);
      expect(stored.spec).toEqual(object.spec);
    }
    // What the API enforces per plan, as the tenant controller will read it from the stored Plans.
    const features = async (id: string) =>
      enabledFeatures((await admin.get<Plan>(plansRef, id)).spec.features);
    expect(await features("starter")).toEqual(["spotQuotes", "directorySearch"]);
    expect(await features("pro")).toEqual([
      "spotQuotes",
      "directorySearch",
      "contracts",
      "bulkRating",
      "invites",
      "lists",
    ]);
    expect(await features("enterprise")).toEqual([
      "spotQuotes",
      "directorySearch",
      "contracts",
      "bulkRating",
      "invites",
      "lists",
      "sso",
      "dataResidency",
    ]);
  });

  it("the RegionFailover is accepted with only the region to start active, and the controller's defaults apply", async () => {
    await admin.apply(
      builtin.namespaces,
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "freight-system" } },
      { fieldManager: "pulumi-kubernetes" },
    );
    for (const activeRegion of ["primary", "secondary"] as const) {
      const object = regionFailoverObject("freight-system", activeRegion);
      await admin.apply(regionFailovers, object as unknown as RegionFailover, {
        fieldManager: "pulumi-kubernetes",
      });
      const stored = await admin.get<RegionFailover>(regionFailovers, "prod", "freight-system");
      expect(stored.spec.activeRegion).toBe(activeRegion);
    }
  });
});
