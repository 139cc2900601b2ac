// Workload hygiene for what the stacks deploy into each region's cluster: containers declare
// requests/limits and probes, run as non-root from images pinned by digest, mount a ServiceAccount
// token only when their account is granted something by RBAC, read secrets from mounted files
// rather than environment variables, and the API survives node drains.
import type { PolicyResource, ResourceValidationArgs } from "@pulumi/policy";
import type { Rule, Unknown } from "./common.ts";
import { UNKNOWN, asList, at, isRecord, isUnknown, isUnset, peek, report, withDefaults } from "./common.ts";

export const POD_SPEC_PATHS: Record<string, string[]> = {
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

/** True when the reference names its image by content: `...@sha256:<64 hex>` (with or without a tag). */
export function isPinnedByDigest(image: string): boolean {
  return /@sha256:[a-f0-9]{64}$/.test(image);
}

export const k8sImageDigest: Rule = {
  name: "k8s-image-pinned-by-digest",
  description:
    "Images are pinned by sha256 digest: a tag (even a release tag) can be moved in the registry, so what runs could change without a deploy.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    "Reference images as registry/name@sha256:<digest>, from stack config (freight:quoteApiImageTag / freight:operatorsImageTag = <tag>@sha256:<digest>).",
  validateResource: (args, reportViolation) =>
    validateContainers(
      args,
      reportViolation,
      (c) => {
        const image = at(c.spec, "image");
        if (typeof image !== "string") return undefined;
        return isPinnedByDigest(image) ? undefined : `uses "${image}", which is not pinned by digest`;
      },
      "pull the image by digest (registry/name@sha256:<digest>): for the platform's images set `pulumi config set freight:quoteApiImageTag '<tag>@sha256:<digest>'` (or freight:operatorsImageTag); the tag stays as the app.kubernetes.io/version label.",
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

const RBAC = "kubernetes:rbac.authorization.k8s.io/v1";
const SERVICE_ACCOUNT_TYPE = "kubernetes:core/v1:ServiceAccount";

/** `namespace/name` of a namespaced object, or UNKNOWN while either is unknown. */
function key(namespace: unknown, name: unknown): string | Unknown {
  if (isUnknown(namespace) || isUnknown(name)) return UNKNOWN;
  return `${typeof namespace === "string" && namespace !== "" ? namespace : "default"}/${String(name)}`;
}

/**
 * The ServiceAccounts some RoleBinding or ClusterRoleBinding of the plan binds to a Role or
 * ClusterRole the plan also holds (a binding to a role that is not deployed grants nothing).
 * UNKNOWN when a binding cannot be read yet: then no verdict is given.
 */
function boundAccounts(resources: PolicyResource[]): Set<string> | Unknown {
  const roles = new Set<string>();
  const clusterRoles = new Set<string>();
  for (const r of resources) {
    const name = at(r.props, "metadata", "name");
    if (r.type === `${RBAC}:ClusterRole` && typeof name === "string") clusterRoles.add(name);
    if (r.type === `${RBAC}:Role`) {
      const k = key(at(r.props, "metadata", "namespace"), name);
      if (!isUnknown(k)) roles.add(k);
    }
  }
  const bound = new Set<string>();
  for (const binding of resources) {
    const clusterWide = binding.type === `${RBAC}:ClusterRoleBinding`;
    if (!clusterWide && binding.type !== `${RBAC}:RoleBinding`) continue;
    const namespace = at(binding.props, "metadata", "namespace");
    const roleKind = at(binding.props, "roleRef", "kind");
    const roleName = at(binding.props, "roleRef", "name");
    const subjects = at(binding.props, "subjects");
    if ([namespace, roleKind, roleName, subjects].some(isUnknown)) return UNKNOWN;
    const grants =
      roleKind === "ClusterRole"
        ? clusterRoles.has(String(roleName))
        : !clusterWide && roles.has(key(namespace, roleName) as string);
    if (!grants) continue;
    for (const subject of asList(subjects)) {
      const kind = at(subject, "kind");
      const name = at(subject, "name");
      // A ServiceAccount subject without a namespace means the binding's own.
      const k = key(at(subject, "namespace") ?? namespace, name);
      if (isUnknown(kind) || isUnknown(k)) return UNKNOWN;
      if (kind === "ServiceAccount") bound.add(k);
    }
  }
  return bound;
}

/**
 * Whether a pod gets a ServiceAccount token: the pod's automountServiceAccountToken wins, else its
 * ServiceAccount's (default true); a projected serviceAccountToken volume is a token either way.
 */
function mountsToken(podSpec: unknown, account: PolicyResource | undefined): boolean | Unknown {
  const projected = asList(at(podSpec, "volumes")).some((v) =>
    asList(at(v, "projected", "sources")).some((s) => isRecord(at(s, "serviceAccountToken"))),
  );
  if (projected) return true;
  const own = at(podSpec, "automountServiceAccountToken");
  if (isUnknown(own)) return UNKNOWN;
  if (typeof own === "boolean") return own;
  const fromAccount = account ? at(account.props, "automountServiceAccountToken") : undefined;
  if (isUnknown(fromAccount)) return UNKNOWN;
  return fromAccount !== false;
}

export const k8sTokenOnlyForBoundAccounts: Rule = {
  name: "k8s-token-only-for-bound-accounts",
  description:
    "A pod mounts a ServiceAccount token only when its ServiceAccount is bound to a Role or ClusterRole of the same stack; any other token is a credential that serves nothing but an attacker.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    "Set automountServiceAccountToken: false in the pod spec of workloads that never call the Kubernetes API; bind the ServiceAccount of those that do to the Role they need.",
  validateStack: (args, reportViolation) => {
    const bound = boundAccounts(args.resources);
    if (isUnknown(bound)) return;
    const accounts = new Map<string, PolicyResource>();
    for (const r of args.resources.filter((r) => r.type === SERVICE_ACCOUNT_TYPE)) {
      const k = key(at(r.props, "metadata", "namespace"), at(r.props, "metadata", "name"));
      if (!isUnknown(k)) accounts.set(k, r);
    }
    for (const workload of args.resources) {
      const path = POD_SPEC_PATHS[workload.type];
      if (!path) continue;
      const podSpec = at(workload.props, ...path);
      const name = at(podSpec, "serviceAccountName") ?? at(podSpec, "serviceAccount") ?? "default";
      const account = key(at(workload.props, "metadata", "namespace"), name);
      if (isUnknown(podSpec) || isUnknown(account)) continue;
      const mounts = mountsToken(podSpec, accounts.get(account));
      if (mounts !== true || bound.has(account)) continue;
      report(
        reportViolation,
        workload,
        `mounts a ServiceAccount token for ${account}, which no RoleBinding or ClusterRoleBinding of this stack binds to a Role or ClusterRole, so the token grants the pod nothing it uses and hands whoever takes the pod a credential for the API server.`,
        "set automountServiceAccountToken: false in its pod spec (for the platform's workloads: callsKubernetesApi: false in infra/workloads/pod-spec.ts), or, if it does call the API, bind its ServiceAccount to the Role those calls need in the same stack.",
      );
    }
  },
};

/** What of a container's env comes from a Secret: `valueFrom.secretKeyRef` and `envFrom[].secretRef`. */
function secretsInEnv(container: unknown): string[] | Unknown {
  const env = at(container, "env");
  const envFrom = at(container, "envFrom");
  if (isUnknown(env) || isUnknown(envFrom)) return UNKNOWN;
  const found: string[] = [];
  for (const variable of asList(env)) {
    const ref = at(variable, "valueFrom", "secretKeyRef");
    if (isUnknown(ref)) return UNKNOWN;
    if (!isRecord(ref)) continue;
    found.push(
      `env ${String(at(variable, "name"))} from key ${String(at(ref, "key"))} of Secret ${String(at(ref, "name"))}`,
    );
  }
  for (const source of asList(envFrom)) {
    const ref = at(source, "secretRef");
    if (isUnknown(ref)) return UNKNOWN;
    if (isRecord(ref)) found.push(`envFrom every key of Secret ${String(at(ref, "name"))}`);
  }
  return found;
}

export const k8sSecretsAsFiles: Rule = {
  name: "k8s-secrets-as-files",
  description:
    "Containers read secrets from files of a mounted Secret volume, never from environment variables, where /proc, crash dumps, child processes and `kubectl describe` see them, and where a rotation only lands with a restart.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    "Mount the Secret as a read-only volume and give the process <NAME>_FILE with the key's path; the platform's config loaders read *_FILE (app/env.ts).",
  validateResource: (args, reportViolation) =>
    validateContainers(
      args,
      reportViolation,
      (c) => {
        const found = secretsInEnv(c.spec);
        if (isUnknown(found) || found.length === 0) return undefined;
        return `puts a secret in its environment (${found.join("; ")})`;
      },
      "mount the Secret as a read-only volume and set <NAME>_FILE to the key's file instead of the value: for the platform's workloads list it in secretFiles (infra/workloads/pod-spec.ts secretFile(...)), whose process reads *_FILE through app/env.ts (declare it in its spec's `secrets`).",
    ),
};

export const kubernetesRules: Rule[] = [
  k8sResources,
  k8sProbes,
  k8sNonRoot,
  k8sImageDigest,
  k8sApiPdb,
  k8sTokenOnlyForBoundAccounts,
  k8sSecretsAsFiles,
];
