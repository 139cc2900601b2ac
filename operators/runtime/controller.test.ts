// A controller wired with watch options against a real API server: its own status writes do not
// wake it (predicates), a Plan change reconciles exactly the tenants on that plan (map function),
// and the reconciler receives { namespace, name } keys.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type LocalCluster } from "../../tools/localcluster/fixture.ts";
import { crdsPath } from "../api/generate.ts";
import type { Plan } from "../api/plan.ts";
import { plans, tenants } from "../api/resources.ts";
import type { Tenant } from "../api/tenant.ts";
import { tenantsOnPlan } from "../controllers/tenant/mappers.ts";
import { applyAs, applyManifest, TENANT_NAMESPACE, waitFor } from "../../tools/platform/operators.ts";
import { Controller } from "./controller.ts";
import { keyString, type ObjectKey } from "./keys.ts";
import { builtin, KubeClient } from "./kube.ts";
import { Manager } from "./manager.ts";
import { specOrMetadataChanged } from "./predicates.ts";
import { applyStatusIfChanged } from "./status.ts";

let cluster: LocalCluster;
let admin: KubeClient;
let manager: Manager;
const reconciled: ObjectKey[] = [];
const count = (name: string) => reconciled.filter((k) => k.name === name).length;

const plan = (name: string, included: number) => ({
  kind: "Plan",
  metadata: { name },
  spec: {
    displayName: name,
    rank: included,
    meters: [{ name: "quotes", included, overageAllowed: false, hardCeiling: included }],
  },
});
const tenant = (name: string, planName: string, labels?: Record<string, string>) => ({
  kind: "Tenant",
  metadata: { name, namespace: TENANT_NAMESPACE, labels },
  spec: { plan: planName },
});
const quiet = () => new Promise((r) => setTimeout(r, 1500));

beforeAll(async () => {
  cluster = await startCluster({ name: "runtime-controller" });
  admin = new KubeClient(cluster.kubeConfig, { userAgent: "runtime-controller-test" });
  await applyManifest(admin, crdsPath);
  await admin.apply(
    builtin.namespaces,
    { apiVersion: "v1", kind: "Namespace", metadata: { name: TENANT_NAMESPACE } },
    { fieldManager: "platform-tests" },
  );
  await waitFor("tenants CRD served", async () => (await admin.list(tenants)).items !== undefined);
  await applyAs(admin, plans, plan("starter", 10));
  await applyAs(admin, plans, plan("growth", 100));

  const client = new KubeClient(cluster.kubeConfig, { userAgent: "runtime-controller" });
  manager = new Manager({ client, log: pino({ level: "silent" }), identity: "test" });
  const tenantInformer = manager.informer<Tenant>(tenants);
  const controller = new Controller({
    name: "probe",
    reconciler: {
      async reconcile(key) {
        reconciled.push(key);
        const object = tenantInformer.get(key);
        if (!object) return;
        // A status write bumps resourceVersion and reaches the informer as an update.
        await applyStatusIfChanged(
          client,
          tenants,
          object,
          { observedGeneration: object.metadata.generation },
          { fieldManager: "probe-controller" },
        );
      },
    },
    workers: 2,
  });
  controller.watch(tenantInformer, { predicates: [specOrMetadataChanged] });
  controller.watch(manager.informer<Plan>(plans), {
    map: tenantsOnPlan(tenantInformer),
    predicates: [specOrMetadataChanged],
  });
  manager.add(controller);
  await manager.start();
}, 180_000);

afterAll(async () => {
  await manager?.stop();
  admin?.close();
  await cluster?.stop();
});

describe("Controller.watch", () => {
  it("reconciles new objects with { namespace, name } keys, and is not woken by its own status write", async () => {
    await applyAs(admin, tenants, tenant("acme", "starter"));
    await applyAs(admin, tenants, tenant("globex", "growth"));
    await waitFor("status written for both", async () => {
      const list = await admin.list<Tenant>(tenants, { namespace: TENANT_NAMESPACE });
      return list.items.filter((t) => t.status?.observedGeneration === 1).length === 2;
    });
    await quiet();
    expect(reconciled.map(keyString).sort()).toEqual([
      `${TENANT_NAMESPACE}/acme`,
      `${TENANT_NAMESPACE}/globex`,
    ]);
    expect(reconciled[0]).toEqual({ namespace: TENANT_NAMESPACE, name: expect.any(String) });
  });

  it("reconciles exactly the tenants on a changed plan, and a tenant whose labels changed", async () => {
    await applyAs(admin, plans, plan("starter", 20));
    await waitFor("acme reconciled for its plan", () => count("acme") === 2);
    await quiet();
    expect(count("globex")).toBe(1);

    await applyAs(admin, tenants, tenant("globex", "growth", { tier: "gold" }));
    await waitFor("globex reconciled for its label", () => count("globex") === 2);
    await quiet();
    expect([count("acme"), count("globex")]).toEqual([2, 2]);
  });
});
