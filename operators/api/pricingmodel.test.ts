// The PricingModel CRD as the real API server serves it: the CEL rules refuse the edits that would
// price tenants with something nobody analysed (an edited version, weights not adding up, an alias to
// nothing, a negative margin floor, coefficients out of range), and kubectl get shows the rollout.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type LocalCluster } from "../../tools/localcluster/fixture.ts";
import { serverTable } from "../../tools/localcluster/table.ts";
import { applyManifest, waitFor } from "../../tools/platform/operators.ts";
import { builtin, KubeApiError, KubeClient } from "../runtime/kube.ts";
import { crdsPath } from "./generate.ts";
import { apiVersion } from "./group.ts";
import type { ModelVersion, PricingModel } from "./pricingmodel.ts";
import { pricingModels } from "./resources.ts";

let cluster: LocalCluster;
let client: KubeClient;

beforeAll(async () => {
  cluster = await startCluster({ name: "pricingmodel-crd" });
  client = new KubeClient(cluster.kubeConfig, { userAgent: "pricingmodel-crd-test" });
  await applyManifest(client, crdsPath);
  await waitFor("CRD pricingmodels established", async () => {
    const crd = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
      builtin.crds,
      "pricingmodels.platform.freight.dev",
    );
    return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
  });
}, 180_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
});

function version(name: string, overrides: Partial<ModelVersion> = {}): ModelVersion {
  return {
    name,
    coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
    guardrails: { minMarginPercent: 8, regionalCaps: [{ region: "west_coast", maxCentsPerMile: 600 }] },
    ...overrides,
  };
}

function validSpec(): Record<string, unknown> {
  return {
    versions: [version("2026-11.1"), version("2026-12.1")],
    aliases: { champion: "2026-11.1", challenger: "2026-12.1" },
    steps: [
      { weights: { champion: 90, challenger: 10 }, holdSeconds: 600, analysis: {} },
      { weights: { champion: 50, challenger: 50 } },
    ],
  };
}

let counter = 0;
function create(spec: Record<string, unknown>): Promise<PricingModel> {
  return client.create<PricingModel>(
    pricingModels,
    {
      apiVersion,
      kind: "PricingModel",
      metadata: { name: `spot-${++counter}`, namespace: "default" },
      spec,
    } as unknown as PricingModel,
    "default",
  );
}

async function refused(attempt: () => Promise<unknown>): Promise<string> {
  try {
    await attempt();
  } catch (error) {
    if (error instanceof KubeApiError) return error.message;
    throw error;
  }
  throw new Error("the API server accepted it");
}

describe("PricingModel CRD", () => {
  it("accepts a champion, a challenger and steps, and fills in the defaults", async () => {
    const created = await create(validSpec());
    expect(created.spec).toMatchObject({ onFailure: "Rollback", bucketVersion: 1 });
  });

  it("refuses weights that do not sum to 100, naming the sum", async () => {
    const spec = { ...validSpec(), steps: [{ weights: { champion: 90, challenger: 20 } }] };
    expect(await refused(() => create(spec))).toMatch(/weights must sum to 100/);
  });

  it("refuses a step that does nothing", async () => {
    const spec = { ...validSpec(), steps: [{}] };
    expect(await refused(() => create(spec))).toMatch(/at least one of weights, holdSeconds or analysis/);
  });

  it("refuses an alias to a missing version", async () => {
    const spec = { ...validSpec(), aliases: { champion: "2026-11.1", challenger: "2027-01.1" } };
    expect(await refused(() => create(spec))).toMatch(
      /alias challenger points at 2027-01.1, which is not in versions/,
    );
    const champion = { ...validSpec(), aliases: { champion: "nope" } };
    expect(await refused(() => create(champion))).toMatch(/alias champion points at nope/);
  });

  it("refuses a negative margin floor and coefficients out of range", async () => {
    const negative = {
      ...validSpec(),
      versions: [version("2026-11.1", { guardrails: { minMarginPercent: -1 } }), version("2026-12.1")],
    };
    expect(await refused(() => create(negative))).toMatch(/minMarginPercent.*greater than or equal to 0/);
    const wild = {
      ...validSpec(),
      versions: [
        version("2026-11.1"),
        version("2026-12.1", {
          coefficients: { linehaulMultiplier: 3, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
        }),
      ],
    };
    expect(await refused(() => create(wild))).toMatch(/linehaulMultiplier.*less than or equal to 2/);
  });

  it("keeps a listed version immutable, while new versions and alias moves go through", async () => {
    const created = await create(validSpec());
    const name = created.metadata.name;
    const edited = [
      version("2026-11.1"),
      version("2026-12.1", {
        coefficients: { linehaulMultiplier: 1.2, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
      }),
    ];
    expect(
      await refused(() =>
        client.mergePatch(pricingModels, name, { spec: { versions: edited } }, { namespace: "default" }),
      ),
    ).toMatch(/version 2026-12.1 is immutable once listed/);
    const moved = await client.mergePatch<PricingModel>(
      pricingModels,
      name,
      {
        spec: {
          versions: [version("2026-11.1"), version("2026-12.1"), version("2026-12.2")],
          aliases: { champion: "2026-11.1", challenger: "2026-12.2" },
        },
      },
      { namespace: "default" },
    );
    expect(moved.spec.aliases.challenger).toBe("2026-12.2");
    expect(moved.spec.versions.find((v) => v.name === "2026-12.1")?.coefficients.linehaulMultiplier).toBe(1);
  });

  it("shows phase, step and weights in kubectl get's columns", async () => {
    const created = await create(validSpec());
    await client.apply(
      pricingModels,
      {
        apiVersion,
        kind: "PricingModel",
        metadata: { name: created.metadata.name, namespace: "default" },
        status: {
          phase: "Progressing",
          step: 1,
          champion: "2026-11.1",
          challenger: "2026-12.1",
          weights: { champion: 90, challenger: 10 },
          message: "Holding 10 % on 2026-12.1.",
        },
      } as unknown as PricingModel,
      { fieldManager: "pricing-controller", subresource: "status" },
    );
    const table = await serverTable(
      cluster,
      `/apis/platform.freight.dev/v1alpha1/namespaces/default/pricingmodels/${created.metadata.name}`,
    );
    expect(table.columnDefinitions.map((c) => c.name)).toEqual([
      "Name",
      "Champion",
      "Challenger",
      "Phase",
      "Step",
      "Champion%",
      "Challenger%",
      "Message",
      "Age",
    ]);
    expect(table.rows[0]!.cells.slice(1, 7)).toEqual(["2026-11.1", "2026-12.1", "Progressing", 1, 90, 10]);
  });
});
