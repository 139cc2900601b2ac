// Billing's Tenant writes from inside a pod (KUBERNETES_API=in-cluster): the ServiceAccount token
// and CA mounted where Kubernetes mounts them, the API at KUBERNETES_SERVICE_HOST, and exactly the
// RBAC the stacks deploy (the generated billing Role, bound to the quote API's ServiceAccount).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { rbacPath, crdsPath } from "../../operators/api/generate.ts";
import { billingRoleBinding, TENANTS_NAMESPACE } from "../../operators/api/rbac.ts";
import { tenants as tenantsRef } from "../../operators/api/resources.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { KubeClient } from "../../operators/runtime/kube.ts";
import { applyManifest, waitFor } from "../../tools/platform/operators.ts";
import { startCluster, type LocalCluster } from "../../tools/localcluster/fixture.ts";
import { KubeTenantPlanWriter } from "./tenant-resource.ts";

const API_ACCOUNT = { namespace: "freight", name: "quote-api" };
const MOUNT = "var/run/secrets/kubernetes.io/serviceaccount";

let cluster: LocalCluster;
let admin: KubeClient;
let pod: string;

beforeAll(async () => {
  cluster = await startCluster({ name: "billing-in-cluster" });
  admin = new KubeClient(cluster.kubeConfig, { userAgent: "billing-in-cluster-test" });
  await applyManifest(admin, crdsPath);
  await applyManifest(admin, rbacPath);
  await waitFor("the Tenant CRD served", async () => {
    await admin.list(tenantsRef, { namespace: TENANTS_NAMESPACE });
    return true;
  });
  const binding = billingRoleBinding(API_ACCOUNT);
  await admin.apply(
    {
      group: "rbac.authorization.k8s.io",
      version: "v1",
      plural: "rolebindings",
      kind: "RoleBinding",
      namespaced: true,
    },
    binding,
    { fieldManager: "pulumi-kubernetes" },
  );
  await admin.apply(
    tenantsRef,
    {
      apiVersion: "platform.freight.dev/v1alpha1",
      kind: "Tenant",
      metadata: { name: "acme", namespace: TENANTS_NAMESPACE },
      spec: { plan: "starter" },
    } as Tenant,
    { fieldManager: "sales" },
  );
  // What the kubelet mounts into the quote API's pod.
  const credentials = await cluster.serviceAccountKubeconfig(API_ACCOUNT.namespace, API_ACCOUNT.name);
  const kubeCluster = cluster.kubeConfig.getCurrentCluster()!;
  const ca = kubeCluster.caData
    ? Buffer.from(kubeCluster.caData, "base64")
    : readFileSync(kubeCluster.caFile!);
  pod = mkdtempSync(path.join(tmpdir(), "billing-pod-"));
  mkdirSync(path.join(pod, MOUNT), { recursive: true });
  writeFileSync(path.join(pod, MOUNT, "token"), credentials.token);
  writeFileSync(path.join(pod, MOUNT, "ca.crt"), ca);
  writeFileSync(path.join(pod, MOUNT, "namespace"), API_ACCOUNT.namespace);
}, 120_000);

afterAll(async () => {
  admin?.close();
  await cluster?.stop();
  if (pod) rmSync(pod, { recursive: true, force: true });
});

describe("billing in-cluster", () => {
  it("applies a plan change to a Tenant as the quote API's ServiceAccount, with only the generated Role", async () => {
    const server = new URL(cluster.server);
    process.env["KUBERNETES_SERVICE_HOST"] = server.hostname;
    process.env["KUBERNETES_SERVICE_PORT"] = server.port;
    try {
      const writer = KubeTenantPlanWriter.inCluster(TENANTS_NAMESPACE, `${pod}/`);
      expect(writer.target).toContain(cluster.server);
      await waitFor("the RoleBinding takes effect", async () => {
        await writer.apply("acme", { plan: "pro", billingStatus: "active" });
        return true;
      });
      const tenant = await admin.get<Tenant>(tenantsRef, "acme", TENANTS_NAMESPACE);
      expect(tenant.spec).toMatchObject({ plan: "pro", billingStatus: "active" });
      writer.close();
    } finally {
      delete process.env["KUBERNETES_SERVICE_HOST"];
      delete process.env["KUBERNETES_SERVICE_PORT"];
    }
  });

  it("outside a pod, says so and names the alternative", () => {
    expect(() => KubeTenantPlanWriter.inCluster(TENANTS_NAMESPACE, `${pod}/`)).toThrow(
      /not running in a Kubernetes pod\. Set KUBECONFIG instead/,
    );
  });
});
