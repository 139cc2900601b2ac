// Workload hygiene for what the stacks deploy into each region's cluster: containers declare
// requests/limits and probes, run as non-root from pinned images, and the API survives node drains.
import type { PolicyResource, ResourceValidationArgs } from "@pulumi/policy";
import type { Rule, Unknown } from "./common.ts";
import { UNKNOWN, asList, at, isRecord, isUnknown, isUnset, peek, report, withDefaults } from "./common.ts";

const POD_SPEC_PATHS: Record<string, string[]> = {
  "kubernetes:apps/v1:Deployment": ["spec", "template", "spec"],
  "kubernetes:apps/v1:StatefulSet": ["spec", "template", "spec"],
  "kubernetes:apps/v1:DaemonSet": ["spec", "template", "spec"],
  "kubernetes:apps/v1:ReplicaSet": ["spec", "template", "spec"],
  "kubernetes:batch/v1:Job": ["spec", "template", "spec"],
  "kubernetes:batch/v1:CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
  "kubernetes:core/v1:Pod": ["spec"],
};
/** Workloads that run until stopped; jobs finish, so probes do not apply to them. */
const LONG_RUNNING = new Set([
  "kubernetes:apps/v1:Deployment",
  "kubernetes:apps/v1:StatefulSet",
  "kubernetes:apps/v1:DaemonSet",
  "kubernetes:apps/v1:ReplicaSet",
  "kubernetes:core/v1:Pod",
]);
export const DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment";
export const PDB_TYPE = "kubernetes:policy/v1:PodDisruptionBudget";

interface Container {
  name: string;
  init: boolean;
  spec: unknown;
}

function podSpecOf(args: ResourceValidationArgs): unknown {
  const path = POD_SPEC_PATHS[args.type];
  if (!path) args.notApplicable("Policy only applies to Kubernetes workloads.");
  return at(args.props, ...path);
}

function containersOf(podSpec: unknown): Container[] | Unknown {
  const containers = at(podSpec, "containers");
  const init = at(podSpec, "initContainers");
  if (isUnknown(containers) || isUnknown(init)) return UNKNOWN;
  const list = (items: unknown, isInit: boolean) =>
    asList(items).map((spec, i) => {
      const name = at(spec, "name");
      return { name: typeof name === "string" ? name : `#${i}`, init: isInit, spec };
    });
  return [...list(containers, false), ...list(init, true)];
}

/** Runs `check` on every container of a workload and reports all offenders in one message. */
function validateContainers(
  args: ResourceValidationArgs,
  reportViolation: (message: string, urn?: string) => void,
  check: (container: Container, podSpec: unknown) => string | undefined,
  fix: string,
): void {
  const podSpec = podSpecOf(args);
  if (isUnknown(podSpec)) return;
  const containers = containersOf(podSpec);
  if (isUnknown(containers)) return;
  const problems = containers.flatMap((c) => {
    const problem = peek(() => check(c, podSpec));
    return typeof problem === "string"
      ? [`${c.init ? "init container" : "container"} "${c.name}" ${problem}`]
      : [];
  });
  if (problems.length > 0) report(reportViolation, args, `${problems.join("; ")}.`, fix);
}

// CPU limits are left out on purpose: they throttle latency-sensitive pods without protecting nodes.
const REQUIRED_RESOURCES = [
  ["requests", "cpu"],
  ["requests", "memory"],
  ["limits", "memory"],
] as const;

export const k8sResources: Rule = {
  name: "k8s-resource-requests-limits",
  description:
    "Every container declares CPU and memory requests and a memory limit, so the scheduler and autoscalers can plan.",
  enforcementLevel: "mandatory",
  severity: "medium",
  remediationSteps:
    "Set resources.requests.cpu, resources.requests.memory and resources.limits.memory on every container.",
  validateResource: (args, reportViolation) =>
    validateContainers(
      args,
      reportViolation,
      (c) => {
        const missing = REQUIRED_RESOURCES.filter(([kind, resource]) => {
          const value = at(c.spec, "resources", kind, resource);
          return !isUnknown(value) && isUnset(value);
        });
        return missing.length > 0
          ? `lacks ${missing.map((m) => `resources.${m.join(".")}`).join(", ")}`
          : undefined;
      },
      'set resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } } (sized from load tests) on every container.',
    ),
};

export const k8sProbes: Rule = {
  name: "k8s-health-probes",
  description:
    "Long-running containers have liveness and readiness probes, so broken pods restart and never receive traffic.",
  enforcementLevel: "mandatory",
  severity: "medium",
  remediationSteps:
    "Add livenessProbe and readinessProbe (e.g. httpGet /livez and /readyz) to every container.",
  validateResource: (args, reportViolation) => {
    if (!LONG_RUNNING.has(args.type)) args.notApplicable("Probes apply to long-running workloads only.");
    validateContainers(
      args,
      reportViolation,
      (c) => {
        if (c.init) return undefined;
        const missing = ["livenessProbe", "readinessProbe"].filter((p) => {
          const probe = at(c.spec, p);
          return !isUnknown(probe) && !isRecord(probe);
        });
        return missing.length > 0 ? `has no ${missing.join(" or ")}` : undefined;
      },
      "add livenessProbe and readinessProbe to each container (httpGet on the app's /livez and /readyz, or exec/tcpSocket for runners).",
    );
  },
};

export const k8sNonRoot: Rule = {
  name: "k8s-run-as-non-root",
  description: "Containers run as a non-root user and never privileged.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    "Set securityContext.runAsNonRoot: true (pod or container) with a non-zero runAsUser, and never privileged: true.",
  validateResource: (args, reportViolation) =>
    validateContainers(
      args,
      reportViolation,
      (c, podSpec) => {
        const podNonRoot = at(podSpec, "securityContext", "runAsNonRoot");
        const podUser = at(podSpec, "securityContext", "runAsUser");
        const nonRoot = at(c.spec, "securityContext", "runAsNonRoot");
        const user = at(c.spec, "securityContext", "runAsUser");
        const privileged = at(c.spec, "securityContext", "privileged");
        if ([podNonRoot, podUser, nonRoot, user, privileged].some(isUnknown)) return undefined;
        if (privileged === true) return "runs privileged";
        const effectiveUser = user ?? podUser;
        if (effectiveUser === 0) return "runs as root (runAsUser: 0)";
        const effectiveNonRoot = nonRoot ?? podNonRoot;
        return effectiveNonRoot === true ? undefined : "may run as root (runAsNonRoot is not true)";
      },
      "set spec.template.spec.securityContext: { runAsNonRoot: true, runAsUser: 10001 } and drop any privileged: true.",
    ),
};

/** True when an image reference floats: no tag, or the `latest` tag, and no digest. */
export function isFloatingImage(image: string): boolean {
  if (image.includes("@sha256:")) return false;
  const lastSegment = image.slice(image.lastIndexOf("/") + 1);
  const colon = lastSegment.lastIndexOf(":");
  return colon === -1 || lastSegment.slice(colon + 1) === "latest";
}

export const k8sPinnedImages: Rule = {
  name: "k8s-no-latest-image",
  description: "Images are pinned by tag or digest; `:latest` or no tag makes a rollout unreproducible.",
  enforcementLevel: "mandatory",
  severity: "medium",
  remediationSteps: "Reference images as registry/name:<version> or registry/name@sha256:<digest>.",
  validateResource: (args, reportViolation) =>
    validateContainers(
      args,
      reportViolation,
      (c) => {
        const image = at(c.spec, "image");
        if (typeof image !== "string") return undefined;
        return isFloatingImage(image) ? `uses the floating image "${image}"` : undefined;
      },
      "pin the image to a release tag or digest from stack config (e.g. freight:appImage = registry/app:1.4.2 or @sha256:...).",
    ),
};

interface PdbConfig {
  apiNamePattern: string;
}

const pdbSchema = {
  properties: {
    apiNamePattern: {
      type: "string" as const,
      format: "regex",
      default: "(^|-)api($|-)",
      description:
        "Case-insensitive regular expression on a Deployment's metadata.name, logical name or app.kubernetes.io/component label that marks it as the API.",
    },
  },
};

function stringMap(value: unknown): Record<string, string> | Unknown {
  if (isUnknown(value)) return UNKNOWN;
  if (!isRecord(value)) return {};
  const entries = peek(() => Object.entries(value));
  if (isUnknown(entries)) return UNKNOWN;
  return Object.fromEntries(entries.filter(([, v]) => typeof v === "string")) as Record<string, string>;
}

function namespaceOf(resource: PolicyResource): string | Unknown {
  const ns = at(resource.props, "metadata", "namespace");
  if (isUnknown(ns)) return UNKNOWN;
  return typeof ns === "string" && ns !== "" ? ns : "default";
}

/** A PDB protects a Deployment when it is in the same namespace and its selector matches the pod labels. */
function protects(
  pdb: PolicyResource,
  deployment: PolicyResource,
  podLabels: Record<string, string>,
): boolean | Unknown {
  const pdbNs = namespaceOf(pdb);
  const deploymentNs = namespaceOf(deployment);
  const selector = stringMap(at(pdb.props, "spec", "selector", "matchLabels"));
  const minAvailable = at(pdb.props, "spec", "minAvailable");
  const maxUnavailable = at(pdb.props, "spec", "maxUnavailable");
  if ([pdbNs, deploymentNs, selector, minAvailable, maxUnavailable].some(isUnknown)) return UNKNOWN;
  if (pdbNs !== deploymentNs || isUnknown(selector)) return false;
  if (isUnset(minAvailable) && isUnset(maxUnavailable)) return false;
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => podLabels[k] === selector[k]);
}

export const k8sApiPdb: Rule = {
  name: "k8s-api-pod-disruption-budget",
  description:
    "The API Deployment has a PodDisruptionBudget, so node drains and upgrades never take all replicas down.",
  enforcementLevel: "mandatory",
  severity: "high",
  configSchema: pdbSchema,
  remediationSteps:
    "Add a policy/v1 PodDisruptionBudget in the API's namespace whose selector matches the API pods, with minAvailable or maxUnavailable.",
  validateStack: (args, reportViolation) => {
    const { apiNamePattern } = withDefaults<PdbConfig>(pdbSchema, args.getConfig());
    const pattern = new RegExp(apiNamePattern, "i");
    const pdbs = args.resources.filter((r) => r.type === PDB_TYPE);
    for (const deployment of args.resources.filter((r) => r.type === DEPLOYMENT_TYPE)) {
      const name = at(deployment.props, "metadata", "name");
      const component = at(deployment.props, "metadata", "labels", "app.kubernetes.io/component");
      const names = [deployment.name, name, component].filter((n): n is string => typeof n === "string");
      if (!names.some((n) => pattern.test(n))) continue;
      const podLabels = stringMap(at(deployment.props, "spec", "template", "metadata", "labels"));
      if (isUnknown(podLabels)) continue;
      const verdicts = pdbs.map((pdb) => protects(pdb, deployment, podLabels));
      if (verdicts.includes(true) || verdicts.includes(UNKNOWN)) continue;
      report(
        reportViolation,
        deployment,
        "is the API but no PodDisruptionBudget selects its pods, so a node drain can evict every replica at once.",
        `add a kubernetes.policy.v1.PodDisruptionBudget in its namespace with selector.matchLabels ${JSON.stringify(podLabels)} and minAvailable: 1 (or maxUnavailable: 1).`,
      );
    }
  },
};

export const kubernetesRules: Rule[] = [k8sResources, k8sProbes, k8sNonRoot, k8sPinnedImages, k8sApiPdb];
