// The tenant finalizer at admission (operators/api/admission.ts, deployed from
// operators/deploy/admission.yaml as the stacks deploy it) on a real kube-apiserver: a Tenant
// carries the offboarding finalizer from its creation, with no operator running; deleted while the
// operator is down it stays until the operator offboards it; and without the policy the controller
// still adds the finalizer itself, so offboarding never depends on the policy.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../../../app/db/pool.ts";
import { TENANT_FINALIZER_POLICY } from "../../api/admission.ts";
import { TENANT_FINALIZER } from "../../api/group.ts";
import { plans, tenants } from "../../api/resources.ts";
import type { Tenant } from "../../api/tenant.ts";
import type { ResourceRef } from "../../api/crd.ts";
import { isNotFound } from "../../runtime/kube.ts";
import {
  applyAs,
  metricValue,
  startOperator,
  startOperatorPlatform,
  TENANT_NAMESPACE,
  waitFor,
  type OperatorPlatform,
  type OperatorProcess,
} from "../../../tools/platform/operators.ts";

const bindings: ResourceRef = {
  group: "admissionregistration.k8s.io",
  version: "v1",
  plural: "mutatingadmissionpolicybindings",
  kind: "MutatingAdmissionPolicyBinding",
  namespaced: false,
};

let platform: OperatorPlatform;
let db: pg.Pool;
let operator: OperatorProcess | undefined;

const tenant = (name: string) => ({
  kind: "Tenant",
  metadata: { name, namespace: TENANT_NAMESPACE },
  spec: { plan: "admission" },
});
const getTenant = (name: string) => platform.admin.get<Tenant>(tenants, name, TENANT_NAMESPACE);
const gone = async (name: string) => {
  try {
    await getTenant(name);
    return false;
  } catch (error) {
    if (isNotFound(error)) return true;
    throw error;
  }
};
const startManager = () =>
  startOperator({
    kubeconfigPath: platform.cluster.kubeconfigPath,
    databaseUrl: platform.db.urls.operator,
    env: { USAGE_REFRESH_SECONDS: "3600" },
  });

beforeAll(async () => {
  platform = await startOperatorPlatform("tenant-admission");
  db = createPool(platform.db.urls.operator, 2);
  await applyAs(platform.admin, plans, {
    kind: "Plan",
    metadata: { name: "admission" },
    spec: {
      displayName: "Admission",
      rank: 1,
      meters: [{ name: "quotes", included: 10, overageAllowed: false, hardCeiling: 10 }],
    },
  });
  // startOperatorPlatform waits until the policy is in effect (a dry-run create shows it).
}, 1_800_000);

afterAll(async () => {
  await operator?.stop();
  await db?.end();
  await platform?.stop();
});

describe("tenant finalizer at admission", () => {
  it("a new Tenant carries the finalizer with no operator running, and a delete waits for offboarding", async () => {
    const created = await applyAs<Tenant>(platform.admin, tenants, tenant("early"));
    expect(created.metadata.finalizers).toEqual([TENANT_FINALIZER]);

    operator = await startManager();
    const id = await waitFor(
      "early provisioned",
      async () => {
        const t = await getTenant("early");
        return t.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
          ? t.status.tenantId
          : undefined;
      },
      { timeoutMs: 120_000 },
    );
    // The finalizer was already there: the operator sent no metadata patch for it, and one status
    // write (rate limits included) provisioned the tenant.
    const patches = (resource: string) =>
      metricValue(operator!.probeUrl, "rest_client_requests_total", { method: "PATCH", resource });
    expect(await patches("tenants")).toBe(0);
    expect(await patches("tenants/status")).toBe(1);

    // Deleted while no operator runs: the Tenant stays, Terminating, and the tenant stays enabled.
    await operator.stop();
    operator = undefined;
    await platform.admin.delete(tenants, "early", TENANT_NAMESPACE);
    const terminating = await getTenant("early");
    expect(terminating.metadata.deletionTimestamp).toBeDefined();
    expect(terminating.metadata.finalizers).toEqual([TENANT_FINALIZER]);

    // The operator comes back and offboards it before letting go: disabled, one data export.
    operator = await startManager();
    await waitFor("early gone", () => gone("early"), { timeoutMs: 60_000, intervalMs: 250 });
    const { rows } = await db.query<{ disabled: boolean; exports: number }>(
      `SELECT t.disabled_at IS NOT NULL AS disabled,
              (SELECT count(*) FROM agent_tasks a WHERE a.tenant_id = t.id AND a.kind = 'data_export')::int AS exports
         FROM tenants t WHERE t.id = $1`,
      [id],
    );
    expect(rows).toEqual([{ disabled: true, exports: 1 }]);
  }, 300_000);

  it("without the policy, the operator adds the finalizer itself", async () => {
    await platform.admin.delete(bindings, TENANT_FINALIZER_POLICY);
    await waitFor(
      "the policy no longer applied",
      async () => {
        const created = await platform.admin.request<Tenant>(
          "POST",
          platform.admin.path(tenants, TENANT_NAMESPACE),
          {
            query: { dryRun: "All" },
            body: { apiVersion: `${tenants.group}/${tenants.version}`, ...tenant("dry-run") },
          },
        );
        return !created.metadata.finalizers?.length;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    operator ??= await startManager();
    const created = await applyAs<Tenant>(platform.admin, tenants, tenant("late"));
    expect(created.metadata.finalizers ?? []).toEqual([]);
    const ready = await waitFor(
      "late provisioned",
      async () => {
        const t = await getTenant("late");
        return t.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? t : undefined;
      },
      { timeoutMs: 120_000 },
    );
    expect(ready.metadata.finalizers).toEqual([TENANT_FINALIZER]);
  }, 300_000);
});
