// Status apply-if-changed against a real API server: one write per real change, none for the same
// status in another key order, and two controllers sharing a Tenant status keep each other's fields.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type LocalCluster } from "../../tools/localcluster/fixture.ts";
import { crdsPath } from "../api/generate.ts";
import { plans, tenants } from "../api/resources.ts";
import type { Tenant, TenantStatus } from "../api/tenant.ts";
import { applyAs, applyManifest, TENANT_NAMESPACE, waitFor } from "../../tools/platform/operators.ts";
import { builtin, KubeClient } from "./kube.ts";
import { applyStatusIfChanged } from "./status.ts";

let cluster: LocalCluster;
let client: KubeClient;
const patches: string[] = [];

beforeAll(async () => {
  cluster = await startCluster({ name: "runtime-status" });
  client = new KubeClient(cluster.kubeConfig, { userAgent: "runtime-status-test" });
  await applyManifest(client, crdsPath);
  await client.apply(
    builtin.namespaces,
    { apiVersion: "v1", kind: "Namespace", metadata: { name: TENANT_NAMESPACE } },
    { fieldManager: "platform-tests" },
  );
  await waitFor("tenants CRD served", async () => (await client.list(tenants)).items !== undefined);
  client.onRequest((method, path) => {
    if (method === "PATCH" && path.endsWith("/status")) patches.push(path);
  });
}, 180_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
});

const read = (name: string) => client.get<Tenant>(tenants, name, TENANT_NAMESPACE);
const condition = (status: "True" | "False") => ({
  type: "Ready",
  status,
  reason: status === "True" ? "Applied" : "Pending",
  message: "m",
  lastTransitionTime: "2026-01-01T00:00:00Z",
});

describe("applyStatusIfChanged", () => {
  it("writes a changed status once, and nothing for the same status in another key order", async () => {
    const tenant = await applyAs<Tenant>(client, tenants, {
      kind: "Tenant",
      metadata: { name: "acme", namespace: TENANT_NAMESPACE },
      spec: { plan: "starter" },
    });
    const desired: TenantStatus = { observedGeneration: 1, tenantId: "t-1", conditions: [condition("True")] };
    expect(
      await applyStatusIfChanged(client, tenants, tenant, desired, { fieldManager: "tenant-controller" }),
    ).toBe(true);
    const written = await read("acme");
    expect(written.status).toEqual(desired);

    const reordered = { conditions: [condition("True")], tenantId: "t-1", observedGeneration: 1 };
    const before = patches.length;
    expect(
      await applyStatusIfChanged(client, tenants, written, reordered, { fieldManager: "tenant-controller" }),
    ).toBe(false);
    expect(patches.length).toBe(before);
    expect((await read("acme")).metadata.resourceVersion).toBe(written.metadata.resourceVersion);
  });

  it("compares only the fields a manager owns, and leaves another manager's fields alone", async () => {
    const tenant = await applyAs<Tenant>(client, tenants, {
      kind: "Tenant",
      metadata: { name: "globex", namespace: TENANT_NAMESPACE },
      spec: { plan: "starter" },
    });
    const own = (t: Tenant) => ({ tenantId: t.status?.tenantId });
    await applyStatusIfChanged(
      client,
      tenants,
      tenant,
      { tenantId: "t-2" },
      {
        fieldManager: "tenant-controller",
        current: own(tenant),
      },
    );
    const rateLimits = { requestsPerSecond: 5, burst: 10, bulkJobConcurrency: 1, source: "builtin-default" };
    let current = await read("globex");
    expect(
      await applyStatusIfChanged(
        client,
        tenants,
        current,
        { rateLimits },
        {
          fieldManager: "ratelimit-controller",
          current: { rateLimits: current.status?.rateLimits },
        },
      ),
    ).toBe(true);

    // The tenant controller's own fields are unchanged: the other manager's write is not a reason.
    current = await read("globex");
    expect(
      await applyStatusIfChanged(
        client,
        tenants,
        current,
        { tenantId: "t-2" },
        {
          fieldManager: "tenant-controller",
          current: own(current),
        },
      ),
    ).toBe(false);
    expect(
      await applyStatusIfChanged(
        client,
        tenants,
        current,
        { tenantId: "t-3" },
        {
          fieldManager: "tenant-controller",
          current: own(current),
        },
      ),
    ).toBe(true);
    expect((await read("globex")).status).toEqual({ tenantId: "t-3", rateLimits });
  });

  it("fails loudly for a kind without a status subresource (Plan) rather than writing nothing", async () => {
    const plan = await applyAs<{ metadata: { name: string } }>(client, plans, {
      kind: "Plan",
      metadata: { name: "starter" },
      spec: {
        displayName: "Starter",
        rank: 1,
        meters: [{ name: "quotes", included: 10, overageAllowed: false, hardCeiling: 10 }],
      },
    });
    await expect(
      applyStatusIfChanged(client, plans, plan, { note: "x" }, { fieldManager: "tenant-controller" }),
    ).rejects.toThrow(/404/);
  });
});
