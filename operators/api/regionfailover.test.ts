// The RegionFailover CRD as the real API server serves it: defaults filled in, and the CEL rules
// refusing the edits on-call could get wrong at 3 a.m.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type LocalCluster } from "../../tools/localcluster/fixture.ts";
import { serverTable } from "../../tools/localcluster/table.ts";
import { builtin, KubeApiError, KubeClient } from "../runtime/kube.ts";
import { applyManifest, waitFor } from "../../tools/platform/operators.ts";
import { crdsPath } from "./generate.ts";
import { apiVersion } from "./group.ts";
import { regionFailovers } from "./resources.ts";
import type { RegionFailover, RegionFailoverSpec } from "./regionfailover.ts";

let cluster: LocalCluster;
let client: KubeClient;

beforeAll(async () => {
  cluster = await startCluster({ name: "regionfailover-crd" });
  client = new KubeClient(cluster.kubeConfig, { userAgent: "regionfailover-crd-test" });
  await applyManifest(client, crdsPath);
  await waitFor("CRD regionfailovers established", async () => {
    const crd = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
      builtin.crds,
      "regionfailovers.platform.freight.dev",
    );
    return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
  });
}, 180_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
});

let counter = 0;
function create(spec: Record<string, unknown>): Promise<RegionFailover> {
  return client.create<RegionFailover>(
    regionFailovers,
    {
      apiVersion,
      kind: "RegionFailover",
      metadata: { name: `prod-${++counter}`, namespace: "default" },
      spec,
    } as unknown as RegionFailover,
    "default",
  );
}

async function refusal(spec: Record<string, unknown>): Promise<string> {
  try {
    await create(spec);
  } catch (error) {
    if (error instanceof KubeApiError) return error.message;
    throw error;
  }
  throw new Error(`the API server accepted ${JSON.stringify(spec)}`);
}

describe("RegionFailover CRD", () => {
  it("accepts the one-line spec on-call writes and fills in the defaults", async () => {
    const created = await create({ activeRegion: "secondary" });
    const spec: RegionFailoverSpec = created.spec;
    expect(spec).toMatchObject({
      activeRegion: "secondary",
      mode: "Planned",
      trafficSteps: [10, 50, 100],
      onGateFailure: "Pause",
    });
  });

  it("accepts custom ascending steps ending at 100", async () => {
    const created = await create({ activeRegion: "primary", trafficSteps: [5, 25, 100], stepSeconds: 10 });
    expect(created.spec.trafficSteps).toEqual([5, 25, 100]);
  });

  it("refuses steps that do not end at 100", async () => {
    expect(await refusal({ activeRegion: "secondary", trafficSteps: [10, 50] })).toMatch(
      /trafficSteps must end at 100/,
    );
  });

  it("refuses steps out of order or repeated", async () => {
    expect(await refusal({ activeRegion: "secondary", trafficSteps: [50, 10, 100] })).toMatch(
      /strictly ascending/,
    );
    expect(await refusal({ activeRegion: "secondary", trafficSteps: [10, 10, 100] })).toMatch(
      /strictly ascending/,
    );
  });

  it("shows the essentials in kubectl get's columns", async () => {
    const created = await create({ activeRegion: "secondary" });
    await client.apply(
      regionFailovers,
      {
        apiVersion,
        kind: "RegionFailover",
        metadata: { name: created.metadata.name, namespace: "default" },
        status: {
          phase: "Progressing",
          servingRegion: "primary",
          stage: "ShiftTraffic",
          trafficWeights: { primary: 50, secondary: 50 },
          readCanary: {
            state: "Held",
            weight: 0,
            region: "secondary",
            message: "Held at 0 % while a flip runs.",
          },
          message: "Shifting 50 % of traffic to secondary.",
        },
      } as unknown as RegionFailover,
      { fieldManager: "failover-controller", subresource: "status" },
    );
    const table = await serverTable(
      cluster,
      `/apis/platform.freight.dev/v1alpha1/namespaces/default/regionfailovers/${created.metadata.name}`,
    );
    expect(table.columnDefinitions.map((c) => c.name)).toEqual([
      "Name",
      "Desired",
      "Serving",
      "Phase",
      "Stage",
      "Primary%",
      "Secondary%",
      "RTO",
      "ReadCanary%",
      "Canary",
      "Message",
      "Age",
    ]);
    expect(table.rows[0]!.cells.slice(1, 10)).toEqual([
      "secondary",
      "primary",
      "Progressing",
      "ShiftTraffic",
      50,
      50,
      null,
      0,
      "Held",
    ]);
  });

  it("takes a read canary weight from 0 to 100 and refuses anything else, naming the field and the bound", async () => {
    const created = await create({ activeRegion: "primary", readCanary: { weight: 25 } });
    expect(created.spec.readCanary).toEqual({ weight: 25 });
    expect((await create({ activeRegion: "primary", readCanary: { weight: 0 } })).spec.readCanary).toEqual({
      weight: 0,
    });
    expect(await refusal({ activeRegion: "primary", readCanary: { weight: 101 } })).toMatch(
      /spec\.readCanary\.weight: Invalid value: 101: spec\.readCanary\.weight in body should be less than or equal to 100/,
    );
    expect(await refusal({ activeRegion: "primary", readCanary: { weight: -1 } })).toMatch(
      /spec\.readCanary\.weight.*greater than or equal to 0/,
    );
    expect(await refusal({ activeRegion: "primary", readCanary: { weight: 12.5 } })).toMatch(
      /spec\.readCanary\.weight.*integer/,
    );
    expect(await refusal({ activeRegion: "primary", readCanary: {} })).toMatch(
      /spec\.readCanary\.weight: Required value/,
    );
    expect(
      await refusal({ activeRegion: "primary", readCanary: { weight: 25, maxReplicationLagSeconds: -3 } }),
    ).toMatch(/spec\.readCanary\.maxReplicationLagSeconds.*greater than or equal to 0/);
  });

  it("takes a fence override naming a region and a reason, and refuses one missing either, naming the field", async () => {
    const fenceOverride = { region: "primary", reason: "INC-77: primary region down, RDS API unreachable" };
    const created = await create({ activeRegion: "secondary", mode: "Unplanned", fenceOverride });
    expect(created.spec.fenceOverride).toEqual(fenceOverride);
    expect(
      await refusal({ activeRegion: "secondary", fenceOverride: { reason: fenceOverride.reason } }),
    ).toMatch(/spec\.fenceOverride\.region: Required value/);
    expect(await refusal({ activeRegion: "secondary", fenceOverride: { region: "primary" } })).toMatch(
      /spec\.fenceOverride\.reason: Required value/,
    );
    expect(
      await refusal({ activeRegion: "secondary", fenceOverride: { region: "primary", reason: "dead" } }),
    ).toMatch(/spec\.fenceOverride\.reason.*at least 10 chars/);
    expect(
      await refusal({
        activeRegion: "secondary",
        fenceOverride: { region: "tertiary", reason: fenceOverride.reason },
      }),
    ).toMatch(/spec\.fenceOverride\.region.*Unsupported value: "tertiary"/);
  });

  it("refuses an unknown region or mode", async () => {
    expect(await refusal({ activeRegion: "tertiary" })).toMatch(/activeRegion/);
    expect(await refusal({ activeRegion: "primary", mode: "Sometimes" })).toMatch(/mode/);
  });
});
