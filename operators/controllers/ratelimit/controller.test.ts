// The rate-limit controller end to end, with the manager running under the operators'
// ServiceAccount and exactly the RBAC of operators/deploy/rbac.yaml: it can do its job, and the
// API server refuses it anything else.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../../../app/db/pool.ts";
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from "../../api/group.ts";
import { plans, rateLimitPolicies, tenants } from "../../api/resources.ts";
import type { RateLimitPolicy } from "../../api/ratelimitpolicy.ts";
import type { Tenant } from "../../api/tenant.ts";
import { builtin, KubeApiError, KubeClient } from "../../runtime/kube.ts";
import {
  applyAs,
  startOperator,
  startOperatorPlatform,
  TENANT_NAMESPACE,
  waitFor,
  type OperatorPlatform,
  type OperatorProcess,
} from "../../../tools/platform/operators.ts";

let platform: OperatorPlatform;
let operator: OperatorProcess;
let serviceAccount: KubeClient;
let db: pg.Pool;

const plan = (name: string, rank: number, rateLimits?: object) => ({
  kind: "Plan",
  metadata: { name },
  spec: {
    displayName: name,
    rank,
    meters: [{ name: "quotes", included: 100, overageAllowed: false, hardCeiling: 100 }],
    ...(rateLimits ? { rateLimits } : {}),
  },
});
const tenant = (name: string, planName: string) => ({
  kind: "Tenant",
  metadata: { name, namespace: TENANT_NAMESPACE },
  spec: { plan: planName },
});
const policy = (name: string, target: object, limits: object) => ({
  kind: "RateLimitPolicy",
  metadata: { name, namespace: TENANT_NAMESPACE },
  spec: { target, limits },
});

async function limitsOf(slug: string) {
  const { rows } = await db.query(
    `SELECT r.requests_per_second AS rps, r.burst, r.bulk_job_concurrency AS concurrency
       FROM tenant_rate_limits r JOIN tenants t ON t.id = r.tenant_id WHERE t.slug = $1`,
    [slug],
  );
  return rows[0] as { rps: number; burst: number; concurrency: number } | undefined;
}

const waitForLimits = (slug: string, expected: { rps: number; burst: number; concurrency: number }) =>
  waitFor(`${slug} limits ${JSON.stringify(expected)}`, async () => {
    const limits = await limitsOf(slug);
    return limits && JSON.stringify(limits) === JSON.stringify(expected) ? limits : undefined;
  });

beforeAll(async () => {
  platform = await startOperatorPlatform("ratelimit-controller");
  db = createPool(platform.db.urls.operator, 2);
  const credentials = await platform.cluster.serviceAccountKubeconfig(OPERATOR_NAMESPACE, OPERATOR_NAME);
  serviceAccount = new KubeClient(credentials.kubeConfig);
  operator = await startOperator({
    kubeconfigPath: credentials.kubeconfigPath,
    databaseUrl: platform.db.urls.operator,
  });
}, 1_800_000);

afterAll(async () => {
  await operator?.stop();
  serviceAccount?.close();
  await db?.end();
  await platform?.stop();
});

describe("rate-limit controller (as the operators' ServiceAccount)", () => {
  it("publishes the plan's limits, then a Plan policy, then a Tenant policy, field by field", async () => {
    await applyAs(
      platform.admin,
      plans,
      plan("pro", 2, { requestsPerSecond: 50, burst: 100, bulkJobConcurrency: 4 }),
    );
    await applyAs(platform.admin, tenants, tenant("acme", "pro"));
    await applyAs(platform.admin, tenants, tenant("globex", "pro"));
    await waitForLimits("acme", { rps: 50, burst: 100, concurrency: 4 });

    await applyAs(
      platform.admin,
      rateLimitPolicies,
      policy("pro-rps", { kind: "Plan", name: "pro" }, { requestsPerSecond: 80 }),
    );
    await waitForLimits("acme", { rps: 80, burst: 100, concurrency: 4 });
    await waitForLimits("globex", { rps: 80, burst: 100, concurrency: 4 });

    await applyAs(
      platform.admin,
      rateLimitPolicies,
      policy("acme-burst", { kind: "Tenant", name: "acme" }, { burst: 400, requestsPerSecond: 90 }),
    );
    await waitForLimits("acme", { rps: 90, burst: 400, concurrency: 4 });
    expect(await limitsOf("globex")).toEqual({ rps: 80, burst: 100, concurrency: 4 });

    const status = await waitFor("status shows the sources", async () => {
      const t = await platform.admin.get<Tenant>(tenants, "acme", TENANT_NAMESPACE);
      return t.status?.rateLimits?.burst === 400 ? t.status : undefined;
    });
    expect(status.rateLimits?.source).toBe(
      "requestsPerSecond=tenant-policy/acme-burst, burst=tenant-policy/acme-burst, bulkJobConcurrency=plan/pro",
    );
    expect(status.conditions?.find((c) => c.type === "RateLimitsApplied")).toMatchObject({
      status: "True",
      reason: "Applied",
    });
    // Both controllers' conditions live side by side (separate field managers).
    expect(status.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");

    await platform.admin.delete(rateLimitPolicies, "acme-burst", TENANT_NAMESPACE);
    await waitForLimits("acme", { rps: 80, burst: 100, concurrency: 4 });
  });

  it("says in each policy's status whether it takes effect, and for how many tenants", async () => {
    // A second, newer policy for the same plan and field is shadowed by the older one.
    await applyAs(
      platform.admin,
      rateLimitPolicies,
      policy("pro-rps-again", { kind: "Plan", name: "pro" }, { requestsPerSecond: 99 }),
    );
    await applyAs(
      platform.admin,
      rateLimitPolicies,
      policy("nobody-burst", { kind: "Tenant", name: "nobody" }, { burst: 1 }),
    );
    const effective = async (name: string) => {
      const p = await platform.admin.get<RateLimitPolicy>(rateLimitPolicies, name, TENANT_NAMESPACE);
      const condition = p.status?.conditions?.find((c) => c.type === "Effective");
      return condition && p.status?.observedGeneration === p.metadata.generation
        ? { ...condition, tenants: p.status?.tenantsAffected }
        : undefined;
    };
    expect(await waitFor("pro-rps effective", () => effective("pro-rps"))).toMatchObject({
      status: "True",
      reason: "Applied",
      tenants: 2,
    });
    expect(await waitFor("pro-rps-again overridden", () => effective("pro-rps-again"))).toMatchObject({
      status: "False",
      reason: "Overridden",
      tenants: 0,
    });
    expect(await waitFor("nobody-burst", () => effective("nobody-burst"))).toMatchObject({
      status: "False",
      reason: "NoTargetTenants",
    });
    // The older policy goes away: the newer one now sets the limit, and says so.
    await platform.admin.delete(rateLimitPolicies, "pro-rps", TENANT_NAMESPACE);
    await waitForLimits("globex", { rps: 99, burst: 100, concurrency: 4 });
    await waitFor(
      "pro-rps-again now applied",
      async () => (await effective("pro-rps-again"))?.status === "True",
    );
  });

  it("falls back to a Default policy, then the built-in default, for a plan without limits", async () => {
    await applyAs(platform.admin, plans, plan("free", 1));
    await applyAs(platform.admin, tenants, tenant("initech", "free"));
    await waitForLimits("initech", { rps: 10, burst: 20, concurrency: 1 });
    await applyAs(
      platform.admin,
      rateLimitPolicies,
      policy("floor", { kind: "Default" }, { requestsPerSecond: 2, burst: 4 }),
    );
    await waitForLimits("initech", { rps: 2, burst: 4, concurrency: 1 });
    // The plan's own limits (here with the Plan policy's requestsPerSecond) beat a Default policy.
    expect(await limitsOf("acme")).toEqual({ rps: 99, burst: 100, concurrency: 4 });
  });

  it("rejects policies whose target or limits make no sense", async () => {
    const rejected = async (object: object) => {
      const error = await applyAs(platform.admin, rateLimitPolicies, object as never).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(KubeApiError);
      return (error as Error).message;
    };
    expect(await rejected(policy("x", { kind: "Default", name: "acme" }, { burst: 1 }))).toContain(
      "set it for kind Plan or Tenant, and omit it for kind Default",
    );
    expect(await rejected(policy("y", { kind: "Tenant", name: "acme" }, {}))).toContain(
      "limits must set at least one of",
    );
    expect(await rejected(policy("z", { kind: "Tenant", name: "acme" }, { burst: -1 }))).toMatch(
      /burst.*greater than or equal to 1/,
    );
  });

  it("the ServiceAccount is refused everything the operators do not need", async () => {
    const refused = async (what: string, attempt: Promise<unknown>) => {
      const error = await attempt.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, `${what} should be forbidden`).toBeInstanceOf(KubeApiError);
      expect((error as KubeApiError).status, what).toBe(403);
    };
    const sa = serviceAccount;
    await refused("delete a tenant", sa.delete(tenants, "acme", TENANT_NAMESPACE));
    await refused(
      "create a plan",
      sa.create(plans, { apiVersion: "platform.freight.dev/v1alpha1", ...plan("hack", 99) }),
    );
    await refused("change a plan", sa.mergePatch(plans, "pro", { spec: { rank: 7 } }));
    await refused(
      "write a policy",
      sa.mergePatch(
        rateLimitPolicies,
        "floor",
        { spec: { limits: { burst: 9 } } },
        { namespace: TENANT_NAMESPACE },
      ),
    );
    await refused(
      "create a tenant",
      sa.create(tenants, { apiVersion: "platform.freight.dev/v1alpha1", ...tenant("evil", "pro") } as never),
    );
    await refused("read secrets", sa.request("GET", "/api/v1/secrets"));
    await refused("read config maps", sa.request("GET", `/api/v1/namespaces/${TENANT_NAMESPACE}/configmaps`));
    await refused("list pods", sa.request("GET", "/api/v1/pods"));
    await refused(
      "take another lease",
      sa.request("PUT", sa.path(builtin.leases, OPERATOR_NAMESPACE, "someone-elses-lease"), {
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: "someone-elses-lease", namespace: OPERATOR_NAMESPACE },
          spec: {},
        },
      }),
    );
    await refused(
      "create leases outside its namespace",
      sa.create(
        builtin.leases,
        {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: "x", namespace: "kube-system" },
        },
        "kube-system",
      ),
    );
    await refused("edit RBAC", sa.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"));
    await refused("change CRDs", sa.delete(builtin.crds, "tenants.platform.freight.dev"));
    // ...while the running manager, under the same identity, leads and reconciles.
    expect(await (await fetch(`${operator.probeUrl}/readyz`)).text()).toBe("leading\n");
    expect(operator.logs()).not.toMatch(/forbidden/i);
  });
});
