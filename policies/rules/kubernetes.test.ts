import { describe, expect, it } from "vitest";
import { UNKNOWN_OBJECT, UNKNOWN_STRING, check, plan, res, summary } from "../testing.ts";
import {
  DEPLOYMENT_TYPE,
  PDB_TYPE,
  isFloatingImage,
  k8sApiPdb,
  k8sNonRoot,
  k8sPinnedImages,
  k8sProbes,
  k8sResources,
  kubernetesRules,
} from "./kubernetes.ts";

const LABELS = { "app.kubernetes.io/name": "quote-api", "app.kubernetes.io/part-of": "freight" };

const CONTAINER = {
  name: "api",
  image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/quote-api:2026.11.26-3f9c2ab",
  resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } },
  livenessProbe: { httpGet: { path: "/livez", port: 8080 } },
  readinessProbe: { httpGet: { path: "/readyz", port: 8080 } },
  securityContext: { allowPrivilegeEscalation: false },
};

function deployment(
  name: string,
  container: Record<string, unknown> = {},
  pod: Record<string, unknown> = {},
) {
  return res(DEPLOYMENT_TYPE, `workloads-${name}`, {
    metadata: { name, namespace: "freight", labels: LABELS },
    spec: {
      replicas: 3,
      selector: { matchLabels: LABELS },
      template: {
        metadata: { labels: LABELS },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 10001 },
          containers: [{ ...CONTAINER, ...container }],
          ...pod,
        },
      },
    },
  });
}

const pdb = (spec: Record<string, unknown> = {}, namespace = "freight") =>
  res(PDB_TYPE, "workloads-quote-api", {
    metadata: { name: "quote-api", namespace },
    spec: { maxUnavailable: 1, selector: { matchLabels: LABELS }, ...spec },
  });

describe("Kubernetes workload rules", () => {
  it("pass the API as stacks/program.ts deploys it", async () => {
    expect(summary(await check(plan([deployment("quote-api"), pdb()]), kubernetesRules))).toEqual([]);
  });

  it("flag missing requests and limits, naming the container and fields", async () => {
    const report = await check(
      plan([deployment("runner", { resources: { requests: { cpu: "1" } } })]),
      k8sResources,
    );
    expect(report.violations[0]?.message).toContain(
      'container "api" lacks resources.requests.memory, resources.limits.memory',
    );
  });

  it("flag missing probes on long-running workloads but not on Jobs", async () => {
    const report = await check(plan([deployment("runner", { livenessProbe: undefined })]), k8sProbes);
    expect(report.violations[0]?.message).toContain('container "api" has no livenessProbe');
    const job = res("kubernetes:batch/v1:Job", "migrate", {
      spec: { template: { spec: { containers: [{ name: "migrate", image: "app:1.0" }] } } },
    });
    expect(summary(await check(plan([job]), k8sProbes))).toEqual([]);
  });

  it("flag root, maybe-root and privileged containers", async () => {
    const root = await check(plan([deployment("a", { securityContext: { runAsUser: 0 } })]), k8sNonRoot);
    expect(root.violations[0]?.message).toContain("runs as root (runAsUser: 0)");
    const maybe = await check(plan([deployment("b", {}, { securityContext: {} })]), k8sNonRoot);
    expect(maybe.violations[0]?.message).toContain("may run as root (runAsNonRoot is not true)");
    const privileged = await check(
      plan([deployment("c", { securityContext: { privileged: true } })]),
      k8sNonRoot,
    );
    expect(privileged.violations[0]?.message).toContain("runs privileged");
  });

  it("check init containers for non-root too", async () => {
    const init = { name: "wait-db", image: "busybox:1.37", securityContext: { runAsUser: 0 } };
    const report = await check(plan([deployment("d", {}, { initContainers: [init] })]), k8sNonRoot);
    expect(report.violations[0]?.message).toContain('init container "wait-db" runs as root');
  });

  it("flag floating images and accept tags and digests", async () => {
    const latest = await check(
      plan([deployment("e", { image: "registry.example/quote-api:latest" })]),
      k8sPinnedImages,
    );
    expect(latest.violations[0]?.message).toContain(
      'uses the floating image "registry.example/quote-api:latest"',
    );
    expect(isFloatingImage("quote-api")).toBe(true);
    expect(isFloatingImage("registry.example:5000/quote-api")).toBe(true);
    expect(isFloatingImage("registry.example:5000/quote-api:1.2.3")).toBe(false);
    expect(isFloatingImage(`quote-api@sha256:${"a".repeat(64)}`)).toBe(false);
  });

  it("require a PodDisruptionBudget selecting the API's pods in its namespace", async () => {
    expect(summary(await check(plan([deployment("quote-api")]), k8sApiPdb))).toEqual([
      "k8s-api-pod-disruption-budget: workloads-quote-api",
    ]);
    const otherNamespace = await check(plan([deployment("quote-api"), pdb({}, "default")]), k8sApiPdb);
    expect(summary(otherNamespace)).toEqual(["k8s-api-pod-disruption-budget: workloads-quote-api"]);
    const wrongSelector = pdb({ selector: { matchLabels: { "app.kubernetes.io/name": "runner" } } });
    expect(summary(await check(plan([deployment("quote-api"), wrongSelector]), k8sApiPdb))).toHaveLength(1);
    const noBudget = pdb({ maxUnavailable: undefined });
    expect(summary(await check(plan([deployment("quote-api"), noBudget]), k8sApiPdb))).toHaveLength(1);
    // Only the API needs one; the runner drains freely.
    expect(summary(await check(plan([deployment("runner")]), k8sApiPdb))).toEqual([]);
  });

  it("do not decide on values unknown during preview", async () => {
    const pending = deployment("quote-api", { image: UNKNOWN_STRING, resources: UNKNOWN_OBJECT });
    const pendingPdb = pdb({ selector: { matchLabels: UNKNOWN_OBJECT } });
    expect(summary(await check(plan([pending, pendingPdb]), kubernetesRules))).toEqual([]);
  });
});
