// The deploy contract: what the region stacks deploy is what the tests run. For each stack, every
// Kubernetes object the plan produces is accepted by the real kube-apiserver (server-side apply,
// dry run, strict field validation, with the third-party CRDs of the charts the stack installs),
// every container starts a known process whose own start-up check accepts the environment the
// manifests give it, and every capability the region must run is deployed. One control plane
// serves both stacks: only their Namespaces and CRDs are stored, and those are the same in both, so
// each stack's objects are also checked to land only in namespaces and kinds that stack provides.
import { existsSync } from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ManifestApplier, type ApplyResult } from "../tools/localcluster/apply.ts";
import { CHART_API_GROUPS, thirdPartyCrds } from "../tools/localcluster/crds/third-party.ts";
import { startCluster, type LocalCluster } from "../tools/localcluster/fixture.ts";
import { buildTimeoutMs } from "../tools/localcluster/test-support.ts";
import { CAPABILITIES, PRODUCTION_CONFIG, regionDeployment, type RegionDeployment } from "./capabilities.ts";
import { kubernetesManifests, type Manifest } from "./manifests.ts";
import { knownStacks, planStack, REPO_ROOT } from "./plan.ts";

/**
 * Capabilities tested but not wired by the stacks yet (issue 14 wires them).
 * Each one here is still checked, the other way round: the test fails once the stacks deploy it, so
 * whoever lands the wiring removes its line and the full check applies. Empty this list, do not
 * grow it.
 */

const STACKS = knownStacks();
const FIELD_MANAGER = "freight-deploy-contract";
/** Namespaces every cluster has before anything is deployed. */
const CLUSTER_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

let cluster: LocalCluster | undefined;
const regions = new Map<string, RegionDeployment>();

beforeAll(async () => {
  const [started, ...plans] = await Promise.all([
    startCluster({ name: "deploy-contract" }),
    ...STACKS.map((stack) => planStack(stack, { config: PRODUCTION_CONFIG[stack] ?? {} })),
  ]);
  cluster = started;
  for (const plan of plans) regions.set(plan.stack, regionDeployment(plan, kubernetesManifests(plan)));
  // The vendored chart CRDs, as the charts would have installed them before our objects.
  const applier = new ManifestApplier(cluster.kubeConfig, FIELD_MANAGER);
  const crds = thirdPartyCrds();
  const installed = await Promise.all(crds.map((crd) => applier.apply(crd, { dryRun: false })));
  const refused = installed.filter((r) => !r.ok).map((r) => `${r.ref}: ${r.message}`);
  if (refused.length) throw new Error(`The vendored CRDs were refused:\n${refused.join("\n")}`);
  await applier.waitForCrds(crds.map((c) => c.metadata.name));
}, buildTimeoutMs);

afterAll(async () => {
  await cluster?.stop();
});

function region(stack: string): RegionDeployment {
  const found = regions.get(stack);
  if (!found) throw new Error(`stack ${stack} was not planned (see the beforeAll error)`);
  return found;
}

/** API group of an apiVersion ("" for the core group). */
function groupOf(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.split("/")[0]! : "";
}

/** Namespaces and CRDs first (stored for real), then what binds to them, then the rest, then custom resources. */
function applyTier(m: Manifest, customGroups: Set<string>): number {
  if (m.kind === "Namespace") return 0;
  if (m.kind === "CustomResourceDefinition") return 1;
  if (["ServiceAccount", "ClusterRole", "Role", "ConfigMap", "Secret"].includes(m.kind)) return 2;
  if (m.kind === "ClusterRoleBinding" || m.kind === "RoleBinding") return 3;
  return customGroups.has(groupOf(m.apiVersion)) ? 5 : 4;
}

function describeFailures(results: ApplyResult[]): string[] {
  return results.filter((r) => !r.ok).map((r) => `${r.ref}: ${r.status} ${r.message}`);
}

describe.each(STACKS)("deploy contract of %s", (stack) => {
  it("puts every namespaced object in a namespace the stack creates (itself or through a Helm release)", () => {
    const d = region(stack);
    const provided = new Set([
      ...CLUSTER_NAMESPACES,
      ...d.manifests.filter((m) => m.kind === "Namespace").map((m) => m.metadata.name),
      ...d.plan.resources
        .filter((r) => r.type === "kubernetes:helm.sh/v3:Release" && r.props["createNamespace"] === true)
        .map((r) => String(r.props["namespace"])),
    ]);
    const stray = d.manifests
      .filter((m) => m.metadata.namespace && !provided.has(m.metadata.namespace))
      .map(
        (m) =>
          `${m.kind} ${m.metadata.namespace}/${m.metadata.name}: namespace ${m.metadata.namespace} is created by nothing in ${stack}`,
      );
    expect(stray).toEqual([]);
  });

  it("serves every custom resource from a CRD the stack creates or a chart it installs", () => {
    const d = region(stack);
    const ownKinds = new Set(
      d.manifests
        .filter((m) => m.kind === "CustomResourceDefinition")
        .map((m) => `${dig(m, "spec", "group")}/${dig(m, "spec", "names", "kind")}`),
    );
    const charts = new Set(
      d.plan.resources
        .filter((r) => r.type === "kubernetes:helm.sh/v3:Release")
        .map((r) => String(r.props["chart"])),
    );
    const chartGroups = new Set([...charts].map((c) => CHART_API_GROUPS[c]).filter(Boolean));
    const vendoredGroups = new Set(Object.values(CHART_API_GROUPS));
    const ownGroups = new Set([...ownKinds].map((k) => k.split("/")[0]));
    const unserved = d.manifests
      .filter((m) => {
        const group = groupOf(m.apiVersion);
        if (vendoredGroups.has(group)) return !chartGroups.has(group);
        if (ownGroups.has(group)) return !ownKinds.has(`${group}/${m.kind}`);
        return false;
      })
      .map(
        (m) =>
          `${m.kind} ${m.metadata.name}: no CRD for ${m.apiVersion} ${m.kind} in ${stack} (nor a chart that installs it)`,
      );
    expect(unserved).toEqual([]);
  });

  it("has every object accepted by the API server (server-side apply, dry run, strict fields), with no warnings", async () => {
    const d = region(stack);
    const applier = new ManifestApplier(cluster!.kubeConfig, FIELD_MANAGER);
    const customGroups = new Set([
      ...thirdPartyCrds().map((c) => c.spec.group),
      ...d.manifests
        .filter((m) => m.kind === "CustomResourceDefinition")
        .map((m) => String(dig(m, "spec", "group"))),
    ]);
    const tiers = new Map<number, Manifest[]>();
    for (const m of d.manifests)
      tiers.set(applyTier(m, customGroups), [...(tiers.get(applyTier(m, customGroups)) ?? []), m]);

    const results: ApplyResult[] = [];
    for (const tier of [...tiers.keys()].sort((a, b) => a - b)) {
      const manifests = tiers.get(tier)!;
      // Namespaces and CRDs are stored, so the objects after them can be admitted into them.
      const dryRun = tier > 1;
      const tierResults = await Promise.all(manifests.map((m) => applier.apply(m, { dryRun })));
      results.push(...tierResults);
      if (tier === 1) {
        await applier.waitForCrds(tierResults.filter((r) => r.ok).map((r) => r.manifest.metadata.name));
      }
    }
    expect(results).toHaveLength(d.manifests.length);
    expect(describeFailures(results), `objects of ${stack} the API server refused`).toEqual([]);
    const warnings = results.flatMap((r) => r.warnings.map((w) => `${r.ref}: ${w}`));
    expect(warnings, `API server warnings for ${stack}`).toEqual([]);
  });

  it("gives no container a secret by environment: each reads its secrets from *_FILE files of mounted Secrets", () => {
    const d = region(stack);
    const inEnv = d.processes.flatMap((p) => [
      ...(p.container.env ?? [])
        .filter((e) => e.valueFrom?.secretKeyRef)
        .map((e) => `${p.where}: env ${e.name}`),
      ...(p.container.envFrom ?? [])
        .filter((e) => e.secretRef)
        .map((e) => `${p.where}: envFrom ${e.secretRef!.name}`),
    ]);
    expect(inEnv).toEqual([]);
    const files = d.processes.flatMap((p) => Object.keys(p.env).filter((name) => name.endsWith("_FILE")));
    expect(files).toContain("DATABASE_URL_FILE");
  });

  it("starts a known process in every container, whose start-up check accepts the environment the manifests give it", () => {
    const d = region(stack);
    expect(d.processes.length).toBeGreaterThan(0);
    const problems = d.processes.flatMap((p) => [
      ...(p.unknownProcess ? [`${p.where}: ${p.unknownProcess}`] : []),
      ...p.envProblems,
      ...(p.refused ? [`${p.where}: ${p.refused}`] : []),
    ]);
    expect(problems).toEqual([]);
  });

  const capabilityCases = CAPABILITIES.map((capability) => ({
    capability,
    title: `deploys ${capability.id}: ${capability.description}`,
  }));
  it.each(capabilityCases)("$title", ({ capability }) => {
    const d = region(stack);
    if (capability.required && !capability.required(d)) return;
    const missing = capability.missing(d);
    expect(missing, `${stack} does not deploy ${capability.id} (${capability.description})`).toEqual([]);
  });
});

describe("the contract catches what the cluster or a process would refuse", () => {
  function find(manifests: Manifest[], kind: string, name: string): Manifest & { spec: Record<string, any> } {
    const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
    if (!found) throw new Error(`the plan has no ${kind} ${name}`);
    return found as Manifest & { spec: Record<string, any> };
  }

  it("reports a wrong type, an unknown field, a pod Pod Security would refuse and a bad NetworkPolicy, with the API server's words", async () => {
    const d = region(STACKS[0]!);
    const manifests = structuredClone(d.manifests);
    const scaled = find(manifests, "ScaledObject", "runner-queue-depth");
    scaled.spec["minReplicaCount"] = 1.5;
    const secret = find(manifests, "ExternalSecret", "quote-api-database");
    secret.spec["secretStoreRef"] = { ...secret.spec["secretStoreRef"], knd: "ClusterSecretStore" };
    const monitor = find(manifests, "PodMonitor", "quote-api");
    monitor.spec["podMetricsEndpoints"] = { port: "http" };
    const api = find(manifests, "Deployment", "quote-api");
    api.spec["template"].spec.containers[0].securityContext = {
      runAsUser: 0,
      allowPrivilegeEscalation: true,
    };

    const policy = find(manifests, "NetworkPolicy", "quote-api-ingress");
    policy.spec["ingress"][0].from[0].ipBlock.cidr = "10.20.0.0/33";

    const applier = new ManifestApplier(cluster!.kubeConfig, FIELD_MANAGER);
    for (const m of manifests.filter((x) => x.kind === "Namespace" || x.kind === "CustomResourceDefinition"))
      expect((await applier.apply(m, { dryRun: false })).ok).toBe(true);
    const [scaledResult, secretResult, monitorResult, apiResult, policyResult] = await Promise.all(
      [scaled, secret, monitor, api, policy].map((m) => applier.apply(m, { dryRun: true })),
    );
    expect(policyResult!.ok).toBe(false);
    expect(policyResult!.message).toMatch(/ipBlock\.cidr.*10\.20\.0\.0\/33/);
    expect(scaledResult!.ok).toBe(false);
    expect(scaledResult!.message).toMatch(/spec\.minReplicaCount.*integer/);
    expect(secretResult!.ok).toBe(false);
    expect(secretResult!.message).toMatch(/\.spec\.secretStoreRef\.knd: field not declared in schema/);
    expect(monitorResult!.ok).toBe(false);
    expect(monitorResult!.message).toMatch(/\.spec\.podMetricsEndpoints: expected list/);
    expect(apiResult!.ok).toBe(true);
    expect(apiResult!.warnings.join("\n")).toMatch(/would violate PodSecurity "restricted:latest"/);
  });

  it("reports a secret file nothing declares or mounts, an environment a process refuses and a command it does not know", () => {
    const d = region(STACKS[0]!);
    const manifests = structuredClone(d.manifests);
    const runner = find(manifests, "Deployment", "runner").spec["template"].spec.containers[0];
    runner.env.find((e: { name: string }) => e.name === "DATABASE_URL_FILE").value =
      "/var/run/secrets/freight/runner-database/DATABASE_URI";
    const migrate = find(manifests, "Job", "migrate-2026-11-26-3f9c2ab").spec["template"].spec.containers[0];
    migrate.volumeMounts = migrate.volumeMounts.filter(
      (m: { name: string }) => m.name !== "secret-migrations-database",
    );
    const operators = find(manifests, "Deployment", "freight-operators").spec["template"].spec.containers[0];
    operators.env.push({ name: "FAILOVER_PRIMARY_HEALTH_URL", value: "https://api-use1.example.com/readyz" });
    const api = find(manifests, "Deployment", "quote-api").spec["template"].spec.containers[0];
    api.command = ["node", "app/quote-server.ts"];

    const broken = regionDeployment(d.plan, manifests);
    const byContainer = (name: string) => broken.processes.find((p) => p.container.name === name)!;
    expect(byContainer("runner").envProblems).toEqual([
      "Deployment freight/runner container runner: DATABASE_URL_FILE names key DATABASE_URI of ExternalSecret freight/runner-database, which does not declare it",
    ]);
    // The process's own check then finds no file there, and says so, naming the variable.
    expect(byContainer("runner").refused).toMatch(
      /DATABASE_URL_FILE: \/var\/run\/secrets\/freight\/runner-database\/DATABASE_URI does not exist/,
    );
    expect(byContainer("migrate").envProblems).toEqual([
      "Job freight/migrate-2026-11-26-3f9c2ab container migrate: MIGRATIONS_DATABASE_URL_FILE names /var/run/secrets/freight/migrations-database/MIGRATIONS_DATABASE_URL, which no Secret volume of the pod mounts; mount the Secret (secretFiles in infra/workloads/pod-spec.ts)",
    ]);
    expect(byContainer("operators").refused).toMatch(/FAILOVER_SECONDARY_HEALTH_URL/);
    expect(byContainer("quote-api").unknownProcess).toMatch(
      /runs `node app\/quote-server\.ts`, which is none of the processes/,
    );
    const missing = CAPABILITIES.find((c) => c.id === "quote-api")!.missing(broken);
    expect(missing).toEqual(["no Deployment starts the quote-api process"]);
  });
});

describe("capabilities tested but not deployed", () => {
  it("names tests that exist for every capability", () => {
    const gone = CAPABILITIES.flatMap((c) =>
      c.testedBy.filter((file) => !existsSync(path.join(REPO_ROOT, file))).map((file) => `${c.id}: ${file}`),
    );
    expect(gone).toEqual([]);
  });

  it("are none: every capability a test proves is deployed by some region", () => {
    const notDeployed = CAPABILITIES.flatMap((c) =>
      STACKS.flatMap((stack) => {
        const d = region(stack);
        if (c.required && !c.required(d)) return [];
        const missing = c.missing(d);
        return missing.length ? [{ id: c.id, stack, missing }] : [];
      }),
    );
    const report = notDeployed.map((n) => `${n.stack} ${n.id}: ${n.missing.join("; ")}`).join("\n");
    console.log(`Tested but not deployed (${notDeployed.length}):\n${report || "none"}`);
    expect(notDeployed.map((n) => `${n.stack} ${n.id}: ${n.missing.join("; ")}`)).toEqual([]);
  });
});

function dig(value: unknown, ...keys: string[]): unknown {
  return keys.reduce<unknown>(
    (v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined),
    value,
  );
}
