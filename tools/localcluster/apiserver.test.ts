// Behaviour the operators rely on, checked against the real kube-apiserver.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import {
  ApiextensionsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  VersionApi,
  Watch,
  type KubernetesObject,
  type V1ConfigMap,
  V1MicroTime,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type LocalCluster } from "./fixture.ts";
import { buildTimeoutMs } from "./test-support.ts";

let cluster: LocalCluster;
let core: CoreV1Api;

beforeAll(async () => {
  cluster = await startCluster({ name: "apiserver-test" });
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
}, buildTimeoutMs);

afterAll(async () => {
  await cluster?.stop();
});

async function namespace(name: string): Promise<string> {
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

function statusCode(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("local control plane", () => {
  it("reports the Kubernetes release it was built from on /version", async () => {
    const version = await cluster.kubeConfig.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.37\.\d+$/);
    expect(version.major).toBe("1");
    expect(version.minor).toBe("37");
  });

  it("enforces a CRD's structural schema and x-kubernetes-validations rule, with a status subresource", async () => {
    const ns = await namespace("crd-validation");
    const group = "test.localcluster.freight.dev";
    await cluster.kubeConfig.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({
      body: {
        metadata: { name: `tenants.${group}` },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural: "tenants", singular: "tenant", kind: "Tenant", listKind: "TenantList" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              subresources: { status: {} },
              schema: {
                openAPIV3Schema: {
                  type: "object",
                  properties: {
                    spec: {
                      type: "object",
                      required: ["plan", "seats"],
                      properties: {
                        plan: { type: "string", _enum: ["free", "pro", "enterprise"] },
                        seats: { type: "integer", minimum: 1 },
                      },
                      x_kubernetes_validations: [
                        {
                          rule: "self.plan != 'free' || self.seats <= 3",
                          message: "the free plan allows at most 3 seats",
                        },
                      ],
                    },
                    status: {
                      type: "object",
                      properties: { phase: { type: "string" } },
                    },
                  },
                },
              },
            },
          ],
        },
      },
    });
    const tenants = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    const ref = { group, version: "v1", namespace: ns, plural: "tenants" };
    const tenant = (name: string, plan: string, seats: number) => ({
      apiVersion: `${group}/v1`,
      kind: "Tenant",
      metadata: { name },
      spec: { plan, seats },
    });

    // The CRD is served once it is Established; until then creates 404.
    await eventually(() => tenants.createNamespacedCustomObject({ ...ref, body: tenant("acme", "free", 2) }));

    const rejected = await tenants
      .createNamespacedCustomObject({ ...ref, body: tenant("bigco", "free", 10) })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(statusCode(rejected)).toBe(422);
    expect(String((rejected as { body?: unknown }).body)).toContain("the free plan allows at most 3 seats");

    const badEnum = await tenants
      .createNamespacedCustomObject({ ...ref, body: tenant("odd", "platinum", 1) })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(statusCode(badEnum)).toBe(422);

    // Status is its own subresource: writes to the main resource do not change it.
    const created = (await tenants.getNamespacedCustomObject({ ...ref, name: "acme" })) as KubernetesObject;
    await tenants.replaceNamespacedCustomObjectStatus({
      ...ref,
      name: "acme",
      body: { ...created, status: { phase: "Active" } },
    });
    const current = (await tenants.getNamespacedCustomObject({ ...ref, name: "acme" })) as {
      spec: { seats: number };
      status?: { phase?: string };
    };
    expect(current.status?.phase).toBe("Active");
    await tenants.replaceNamespacedCustomObject({
      ...ref,
      name: "acme",
      body: { ...current, spec: { plan: "free", seats: 3 }, status: { phase: "Ignored" } },
    });
    const after = (await tenants.getNamespacedCustomObject({ ...ref, name: "acme" })) as {
      spec: { seats: number };
      status?: { phase?: string };
    };
    expect(after.spec.seats).toBe(3);
    expect(after.status?.phase).toBe("Active");
  });

  it("refuses an update carrying a stale resourceVersion with 409 Conflict", async () => {
    const ns = await namespace("conflicts");
    const created = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "limits" }, data: { quotesPerMinute: "60" } },
    });
    await core.replaceNamespacedConfigMap({
      name: "limits",
      namespace: ns,
      body: { ...created, data: { quotesPerMinute: "120" } },
    });
    const stale = await core
      .replaceNamespacedConfigMap({
        name: "limits",
        namespace: ns,
        body: { ...created, data: { quotesPerMinute: "30" } },
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(statusCode(stale)).toBe(409);
    const stored = await core.readNamespacedConfigMap({ name: "limits", namespace: ns });
    expect(stored.data?.quotesPerMinute).toBe("120");
  });

  it("delivers watch events and resumes a watch from a resourceVersion", async () => {
    const ns = await namespace("watches");
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    const watch = new Watch(cluster.kubeConfig);
    const path = `/api/v1/namespaces/${ns}/configmaps`;

    const seen: { type: string; name: string; resourceVersion: string }[] = [];
    const first = await watch.watch(
      path,
      { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: false },
      (type, obj: V1ConfigMap) =>
        seen.push({ type, name: obj.metadata!.name!, resourceVersion: obj.metadata!.resourceVersion! }),
      () => {},
    );
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "lane-1" } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "lane-2" } } });
    await eventually(async () => expect(seen.map((e) => e.name)).toEqual(["lane-1", "lane-2"]));
    expect(seen.every((e) => e.type === "ADDED")).toBe(true);
    first.abort();

    // Changes made while no watch is open are replayed from the last seen version.
    const resumeFrom = seen[1]!.resourceVersion;
    await core.deleteNamespacedConfigMap({ name: "lane-1", namespace: ns });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "lane-3" } } });
    const resumed: string[] = [];
    const second = await watch.watch(
      path,
      { resourceVersion: resumeFrom },
      (type, obj: V1ConfigMap) => resumed.push(`${type} ${obj.metadata!.name}`),
      () => {},
    );
    await eventually(async () => expect(resumed).toEqual(["DELETED lane-1", "ADDED lane-3"]));
    second.abort();
  });

  it("creates and renews a Lease, refusing a renewal based on an old version", async () => {
    const ns = await namespace("leases");
    const coordination = cluster.kubeConfig.makeApiClient(CoordinationV1Api);
    const acquired = await coordination.createNamespacedLease({
      namespace: ns,
      body: {
        metadata: { name: "failover-controller" },
        spec: {
          holderIdentity: "operator-0",
          leaseDurationSeconds: 15,
          // Lease times are MicroTime: a plain Date serializes with milliseconds and is refused (400).
          acquireTime: new V1MicroTime(),
          renewTime: new V1MicroTime(),
        },
      },
    });
    const renewedAt = new V1MicroTime(Date.now() + 2000);
    const renewed = await coordination.replaceNamespacedLease({
      name: "failover-controller",
      namespace: ns,
      body: { ...acquired, spec: { ...acquired.spec, renewTime: renewedAt } },
    });
    expect(renewed.metadata?.resourceVersion).not.toBe(acquired.metadata?.resourceVersion);
    expect(new Date(renewed.spec!.renewTime!).getTime()).toBe(renewedAt.getTime());

    const takeover = await coordination
      .replaceNamespacedLease({
        name: "failover-controller",
        namespace: ns,
        body: { ...acquired, spec: { ...acquired.spec, holderIdentity: "operator-1" } },
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(statusCode(takeover)).toBe(409);
  });

  it("records our field manager in managedFields on server-side apply", async () => {
    const ns = await namespace("server-side-apply");
    const objects = cluster.kubeConfig.makeApiClient(KubernetesObjectApi);
    const desired = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "routing", namespace: ns },
      data: { activeRegion: "primary" },
    };
    await objects.patch(
      desired,
      undefined,
      undefined,
      "failover-controller",
      true,
      PatchStrategy.ServerSideApply,
    );
    await objects.patch(
      { ...desired, data: { trafficPercent: "10" } },
      undefined,
      undefined,
      "traffic-shifter",
      true,
      PatchStrategy.ServerSideApply,
    );
    const stored = await core.readNamespacedConfigMap({ name: "routing", namespace: ns });
    expect(stored.data).toEqual({ activeRegion: "primary", trafficPercent: "10" });
    const managers = (stored.metadata?.managedFields ?? []).map((f) => [f.manager, f.operation]);
    expect(managers).toEqual(
      expect.arrayContaining([
        ["failover-controller", "Apply"],
        ["traffic-shifter", "Apply"],
      ]),
    );
  });

  it("refuses a ServiceAccount without permission (403) and allows it after a RoleBinding", async () => {
    const ns = await namespace("rbac");
    const operator = await cluster.serviceAccountKubeconfig(ns, "tenant-operator");
    const asOperator = operator.kubeConfig.makeApiClient(CoreV1Api);

    const forbidden = await asOperator.listNamespacedConfigMap({ namespace: ns }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(statusCode(forbidden)).toBe(403);
    expect(String((forbidden as { body?: unknown }).body)).toContain(
      'User \\"system:serviceaccount:rbac:tenant-operator\\" cannot list resource \\"configmaps\\"',
    );

    const rbac = cluster.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: "configmap-reader" },
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "tenant-operator-reads-configmaps" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "configmap-reader" },
        subjects: [{ kind: "ServiceAccount", name: "tenant-operator", namespace: ns }],
      },
    });
    // The RBAC authorizer reads roles through an informer: allow it a moment.
    const allowed = await eventually(() => asOperator.listNamespacedConfigMap({ namespace: ns }));
    expect(allowed.items).toBeDefined();

    // Reading is granted, writing is still not.
    const write = await asOperator
      .createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "nope" } } })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(statusCode(write)).toBe(403);
  });

  const kubectl = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].find((p) => existsSync(p));
  it.skipIf(!kubectl)("works with kubectl through the written kubeconfig", () => {
    const out = execFileSync(
      kubectl!,
      ["--kubeconfig", cluster.kubeconfigPath, "get", "namespaces", "-o", "name"],
      {
        encoding: "utf8",
      },
    );
    expect(out.split("\n")).toContain("namespace/default");
    const groups = execFileSync(
      kubectl!,
      ["--kubeconfig", cluster.kubeconfigPath, "auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}"],
      { encoding: "utf8" },
    );
    expect(JSON.parse(groups)).toContain("system:masters");
  });
});
