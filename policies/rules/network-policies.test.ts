import { describe, expect, it } from "vitest";
import { planStack, transformPlan } from "../../stacks/plan.ts";
import { UNKNOWN_OBJECT, check, plan, res, summary } from "../testing.ts";
import { POD_SPEC_PATHS } from "./kubernetes.ts";
import { NETWORK_POLICY_TYPE, k8sPodsDefaultDeny, selects } from "./network-policies.ts";

const RUNNER = { "app.kubernetes.io/name": "runner", "app.kubernetes.io/part-of": "freight" };

function deployment(name: string, namespace = "freight", labels: Record<string, string> = RUNNER) {
  return res("kubernetes:apps/v1:Deployment", `workloads-${name}`, {
    metadata: { name, namespace },
    spec: {
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name, image: "app" }] } },
    },
  });
}

const cronJob = (namespace: string) =>
  res("kubernetes:batch/v1:CronJob", "scheduled-jobs-exec-report", {
    metadata: { name: "exec-report", namespace },
    spec: {
      jobTemplate: {
        spec: {
          template: {
            metadata: { labels: { "app.kubernetes.io/name": "exec-report" } },
            spec: { containers: [{ name: "exec-report", image: "app" }] },
          },
        },
      },
    },
  });

function policy(name: string, namespace: string, spec: Record<string, unknown>) {
  return res(NETWORK_POLICY_TYPE, `network-policies-${namespace}-${name}`, {
    metadata: { name, namespace },
    spec,
  });
}

const denyAll = (namespace = "freight") =>
  policy("default-deny", namespace, { podSelector: {}, policyTypes: ["Ingress", "Egress"] });

const rule = (resources: Parameters<typeof plan>[0]) =>
  check(plan(resources), k8sPodsDefaultDeny).then(summary);

describe("k8s-pods-default-deny", () => {
  it("passes pods of a namespace with a default-deny for both directions, beside policies that allow flows", async () => {
    const allowDns = policy("runner-egress", "freight", {
      podSelector: { matchLabels: RUNNER },
      policyTypes: ["Egress"],
      egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 53, protocol: "UDP" }] }],
    });
    expect(await rule([deployment("runner"), cronJob("freight"), denyAll(), allowDns])).toEqual([]);
  });

  it("fails a workload added in a namespace without policies, naming the resource, the namespace and the fix", async () => {
    const report = await check(
      plan([deployment("runner"), denyAll(), cronJob("reports")]),
      k8sPodsDefaultDeny,
    );
    expect(summary(report)).toEqual(["k8s-pods-default-deny: scheduled-jobs-exec-report"]);
    const [violation] = report.violations;
    expect(violation?.message).toContain(
      "scheduled-jobs-exec-report (kubernetes:batch/v1:CronJob): runs pods in namespace reports that no default-deny NetworkPolicy selects for Ingress and Egress",
    );
    expect(violation?.remediation).toContain("infra/workloads/namespaces.ts");
    expect(violation?.remediation).toContain("infra/workloads/network-flows.ts");
    expect(violation?.remediation).toContain("podSelector: {} and policyTypes: [Ingress, Egress]");
  });

  it("fails a default-deny of one direction only, naming the open one", async () => {
    const ingressOnly = policy("default-deny", "freight", { podSelector: {}, policyTypes: ["Ingress"] });
    const report = await check(plan([deployment("runner"), ingressOnly]), k8sPodsDefaultDeny);
    expect(report.violations[0]?.message).toContain(
      "selects for Egress, so they can reach any pod and address",
    );
    // policyTypes unset with no egress rules governs ingress only, as the API server defaults it.
    const defaulted = policy("default-deny", "freight", { podSelector: {} });
    expect(await rule([deployment("runner"), defaulted])).toHaveLength(1);
  });

  it("does not count a policy that allows what it governs, one in another namespace, or one selecting other pods", async () => {
    const allowAll = policy("allow-all", "freight", {
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
      ingress: [{}],
      egress: [{}],
    });
    expect(await rule([deployment("runner"), allowAll])).toHaveLength(1);
    expect(await rule([deployment("runner"), denyAll("freight-system")])).toHaveLength(1);
    const apiOnly = policy("api-deny", "freight", {
      podSelector: { matchLabels: { "app.kubernetes.io/name": "quote-api" } },
      policyTypes: ["Ingress", "Egress"],
    });
    expect(await rule([deployment("runner"), apiOnly])).toHaveLength(1);
  });

  it("checks Jobs and Pods too, and gives no verdict while a policy is unknown", async () => {
    const job = res("kubernetes:batch/v1:Job", "migration", {
      metadata: { name: "migrate-1", namespace: "freight" },
      spec: { template: { metadata: { labels: {} }, spec: { containers: [{ name: "m", image: "app" }] } } },
    });
    const pod = res("kubernetes:core/v1:Pod", "debug", {
      metadata: { name: "debug", namespace: "freight", labels: { run: "debug" } },
      spec: { containers: [{ name: "d", image: "app" }] },
    });
    expect(await rule([job, pod])).toEqual([
      "k8s-pods-default-deny: migration",
      "k8s-pods-default-deny: debug",
    ]);
    expect(await rule([job, pod, denyAll()])).toEqual([]);
    const pending = policy("default-deny", "freight", {
      podSelector: UNKNOWN_OBJECT,
      policyTypes: ["Ingress"],
    });
    expect(await rule([deployment("runner"), pending])).toEqual([]);
  });

  it("matches label selectors as Kubernetes does", () => {
    const labels = { "app.kubernetes.io/name": "billing-reconcile-daily", tier: "batch" };
    const expression = (operator: string, values?: string[]) => ({
      matchExpressions: [{ key: "app.kubernetes.io/name", operator, values }],
    });
    expect(selects({}, labels)).toBe(true);
    expect(selects({ matchLabels: { tier: "batch" } }, labels)).toBe(true);
    expect(selects({ matchLabels: { tier: "web" } }, labels)).toBe(false);
    expect(selects(expression("In", ["billing-reconcile-daily", "billing-reconcile-monthly"]), labels)).toBe(
      true,
    );
    expect(selects(expression("In", ["runner"]), labels)).toBe(false);
    expect(selects(expression("NotIn", ["runner"]), labels)).toBe(true);
    expect(selects(expression("Exists"), labels)).toBe(true);
    expect(selects(expression("DoesNotExist"), labels)).toBe(false);
    expect(selects(undefined, labels)).toBe(false);
  });

  it.each(["prod-primary", "prod-secondary"])(
    "on %s: passes as planned, and without the freight namespace's default-deny names every workload there",
    async (stack) => {
      const planned = await planStack(stack);
      expect(summary(await check(planned, k8sPodsDefaultDeny))).toEqual([]);
      const withoutDeny = transformPlan(planned, (r) =>
        r.name === "network-policies-freight-default-deny" ? undefined : r,
      );
      const inFreight = withoutDeny.resources
        .filter(
          (r) =>
            POD_SPEC_PATHS[r.type] && (r.props["metadata"] as { namespace?: string }).namespace === "freight",
        )
        .map((r) => `k8s-pods-default-deny: ${r.name}`);
      expect(inFreight).toEqual(
        expect.arrayContaining(["k8s-pods-default-deny: quote-api", "k8s-pods-default-deny: runner"]),
      );
      const report = await check(withoutDeny, k8sPodsDefaultDeny);
      expect(summary(report)).toEqual(inFreight);
      // The API's own flow policies still select it, but they allow flows: only a rule-less policy denies by default.
      expect(report.violations.find((v) => v.message.startsWith("quote-api "))?.message).toContain(
        "runs pods in namespace freight that no default-deny NetworkPolicy selects for Ingress and Egress",
      );
    },
    120_000,
  );
});
