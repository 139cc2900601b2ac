// What each container the stacks deploy sees as its environment, resolved from the plan's own
// manifests the way the kubelet would: plain values, `$(VAR)` references, fieldRefs, keys of
// Secrets (plain or synced by an ExternalSecret) and ConfigMaps the plan declares, and the files of
// the Secret volumes its `*_FILE` variables name (secretMounts). Secret values are
// samples of the right shape (a template's rendering, a postgres URL for *DATABASE_URL), because the
// real ones live in the secret store; a reference to a key nothing in the plan declares is a problem,
// since that pod would not start.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

import type { Manifest } from "./manifests.ts";
import type { ProcessEnv } from "./processes.ts";

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { resource: string };
  };
}

export interface EnvFromSource {
  prefix?: string;
  secretRef?: { name: string; optional?: boolean };
  configMapRef?: { name: string; optional?: boolean };
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
}

export interface Volume {
  name: string;
  secret?: { secretName: string; optional?: boolean };
  projected?: { sources: Record<string, unknown>[] };
}

export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
}

/** Whether the pod gets a ServiceAccount token: declared as a projected volume, or automounted. */
export function mountsServiceAccountToken(pod: PodSpec): boolean {
  const projected = (pod.volumes ?? []).some((v) =>
    (v.projected?.sources ?? []).some((s) => s["serviceAccountToken"] !== undefined),
  );
  return projected || pod.automountServiceAccountToken !== false;
}

/** A `*_FILE` variable naming a key's file in one of the container's Secret volumes. */
export interface SecretMount {
  /** The `*_FILE` variable. */
  variable: string;
  /** The file's path in the container. */
  path: string;
  /** Where the Secret's volume is mounted. */
  mountPath: string;
  secret: string;
  key: string;
}

/**
 * The container's `*_FILE` variables that name a file of a Secret volume it mounts, and a problem for
 * each that names a file no Secret volume provides (the process would stop on a missing file).
 */
export function secretMounts(
  container: Container,
  pod: PodSpec,
  where: string,
): { mounts: SecretMount[]; problems: string[] } {
  const mounts: SecretMount[] = [];
  const problems: string[] = [];
  for (const variable of container.env ?? []) {
    if (!variable.name.endsWith("_FILE") || variable.value === undefined) continue;
    const path = variable.value;
    const mount = (container.volumeMounts ?? []).find(
      (m) => !m.subPath && path.startsWith(`${m.mountPath.replace(/\/$/, "")}/`),
    );
    const secret = mount && pod.volumes?.find((v) => v.name === mount.name)?.secret;
    if (!mount || !secret) {
      problems.push(
        `${where}: ${variable.name} names ${path}, which no Secret volume of the pod mounts; mount the Secret (secretFiles in infra/workloads/pod-spec.ts)`,
      );
      continue;
    }
    const mountPath = mount.mountPath.replace(/\/$/, "");
    mounts.push({
      variable: variable.name,
      path,
      mountPath,
      secret: secret.secretName,
      key: path.slice(mountPath.length + 1),
    });
  }
  return { mounts, problems };
}

export interface Workload {
  kind: "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob";
  name: string;
  namespace: string;
  manifest: Manifest;
  podSpec: PodSpec;
  podLabels: Record<string, string>;
  /** CronJob schedule. */
  schedule?: string;
}

const POD_TEMPLATE_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job"]);

interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: PodSpec;
}

/** Every workload that runs containers, with its pod template. */
export function workloadsOf(manifests: Manifest[]): Workload[] {
  const workloads: Workload[] = [];
  for (const m of manifests) {
    const spec = m["spec"] as
      | { template?: PodTemplate; schedule?: string; jobTemplate?: { spec: { template: PodTemplate } } }
      | undefined;
    const template = POD_TEMPLATE_KINDS.has(m.kind)
      ? spec?.template
      : m.kind === "CronJob"
        ? spec?.jobTemplate?.spec.template
        : undefined;
    if (!template) continue;
    workloads.push({
      kind: m.kind as Workload["kind"],
      name: m.metadata.name,
      namespace: m.metadata.namespace ?? "default",
      manifest: m,
      podSpec: template.spec,
      podLabels: template.metadata?.labels ?? {},
      ...(m.kind === "CronJob" && spec?.schedule ? { schedule: spec.schedule } : {}),
    });
  }
  return workloads;
}

/** A value of the right shape for a secret the plan syncs from the secret store, by its key. */
export function sampleSecretValue(key: string): string {
  if (/DATABASE_URL$/.test(key))
    return "postgres://sample:sample@db.sample.internal:5432/freight?sslmode=verify-full";
  if (key === "STRIPE_SECRET_KEY") return "rk_live_sample";
  if (key === "STRIPE_WEBHOOK_SECRET") return "whsec_sample";
  if (key === "SECRETS_LAST_ROTATED") return "sample-secret=2026-11-01T00:00:00Z";
  if (key === "SMTP_URL") return "smtps://sample:sample@smtp.sample.example.com:465";
  if (key === "CONSOLE_SESSION_SECRET") return "sample-console-session-secret-of-32-chars-or-more";
  if (/_URL$/.test(key)) return "https://sample.example.com/hook";
  return `sample-${key.toLowerCase().replace(/_/g, "-")}`;
}

/** An ExternalSecret template rendered with every `{{ ... }}` expression as "sample". */
function renderTemplate(template: string): string {
  return template.replace(/\{\{[^}]*\}\}/g, "sample");
}

interface KeySource {
  /** `Secret ns/name`, `ExternalSecret ns/name`, `ConfigMap ns/name`. */
  description: string;
  /** Declared keys and the value (or sample) each resolves to. */
  keys: Map<string, string>;
  /** Why keys beyond `keys` cannot be known from the plan, if they cannot. */
  openKeys?: string;
}

interface ExternalSecretSpec {
  target?: { name?: string; template?: { data?: Record<string, string>; mergePolicy?: string } };
  data?: { secretKey: string }[];
  dataFrom?: unknown[];
}

function secretSource(manifests: Manifest[], namespace: string, name: string): KeySource | undefined {
  for (const m of manifests) {
    if (m.metadata.namespace !== namespace) continue;
    if (m.kind === "Secret" && m.metadata.name === name) {
      const keys = new Map<string, string>();
      for (const [k, v] of Object.entries((m["data"] as Record<string, string> | undefined) ?? {}))
        keys.set(k, Buffer.from(v, "base64").toString("utf8"));
      for (const [k, v] of Object.entries((m["stringData"] as Record<string, string> | undefined) ?? {}))
        keys.set(k, v);
      return { description: `Secret ${namespace}/${name}`, keys };
    }
    if (m.kind === "ExternalSecret") {
      const spec = (m["spec"] ?? {}) as ExternalSecretSpec;
      if ((spec.target?.name ?? m.metadata.name) !== name) continue;
      const keys = new Map<string, string>();
      for (const item of spec.data ?? []) keys.set(item.secretKey, sampleSecretValue(item.secretKey));
      for (const [k, v] of Object.entries(spec.target?.template?.data ?? {})) keys.set(k, renderTemplate(v));
      const source: KeySource = { description: `ExternalSecret ${namespace}/${m.metadata.name}`, keys };
      // A template replaces what dataFrom copies unless it merges into it.
      const template = spec.target?.template;
      if (spec.dataFrom?.length && (!template || template.mergePolicy === "Merge"))
        source.openKeys = "its dataFrom copies whatever keys the secret store entry holds";
      return source;
    }
  }
  return undefined;
}

function configMapSource(manifests: Manifest[], namespace: string, name: string): KeySource | undefined {
  const m = manifests.find(
    (x) => x.kind === "ConfigMap" && x.metadata.namespace === namespace && x.metadata.name === name,
  );
  if (!m) return undefined;
  const keys = new Map(Object.entries((m["data"] as Record<string, string> | undefined) ?? {}));
  return { description: `ConfigMap ${namespace}/${name}`, keys };
}

function fieldValue(fieldPath: string, workload: Workload): string | undefined {
  const label = /^metadata\.labels\['(.+)'\]$/.exec(fieldPath);
  if (label) return workload.podLabels[label[1]!];
  switch (fieldPath) {
    case "metadata.name":
      return `${workload.name}-5d8f7c9b6-x2x7q`;
    case "metadata.namespace":
      return workload.namespace;
    case "metadata.uid":
      return "0f8e1c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    case "spec.nodeName":
      return "ip-10-20-1-17.ec2.internal";
    case "spec.serviceAccountName":
      return workload.podSpec.serviceAccountName ?? "default";
    case "status.podIP":
    case "status.hostIP":
      return "10.20.1.17";
    default:
      return undefined;
  }
}

/** `$(VAR)` expands to an earlier variable; `$$(VAR)` escapes it (Kubernetes' rules). */
function expand(value: string, env: ProcessEnv): string {
  return value.replace(/\$\$\(|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name: string | undefined) =>
    name === undefined ? "$(" : (env[name] ?? match),
  );
}

export interface ContainerEnv {
  env: ProcessEnv;
  /** The Secret files its `*_FILE` variables name: path in the container -> (sample) content. */
  files: Record<string, string>;
  /** References the pod could not resolve: each would keep the pod from starting. */
  problems: string[];
}

/** The environment `container` of `workload` starts with. */
export function containerEnv(container: Container, workload: Workload, manifests: Manifest[]): ContainerEnv {
  const env: ProcessEnv = {};
  const problems: string[] = [];
  const ns = workload.namespace;
  const where = `${workload.kind} ${ns}/${workload.name} container ${container.name}`;

  for (const from of container.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref) continue;
    const source = from.secretRef
      ? secretSource(manifests, ns, ref.name)
      : configMapSource(manifests, ns, ref.name);
    if (!source) {
      if (!ref.optional)
        problems.push(
          `${where}: envFrom ${from.secretRef ? "Secret" : "ConfigMap"} ${ns}/${ref.name} is not in the plan`,
        );
      continue;
    }
    for (const [k, v] of source.keys) env[`${from.prefix ?? ""}${k}`] = v;
  }

  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (!from) {
      env[variable.name] = expand(variable.value ?? "", env);
      continue;
    }
    const keyRef = from.secretKeyRef ?? from.configMapKeyRef;
    if (keyRef) {
      const kind = from.secretKeyRef ? "Secret" : "ConfigMap";
      const source = from.secretKeyRef
        ? secretSource(manifests, ns, keyRef.name)
        : configMapSource(manifests, ns, keyRef.name);
      const value = source?.keys.get(keyRef.key);
      if (value !== undefined) env[variable.name] = value;
      else if (!keyRef.optional) {
        problems.push(
          source
            ? `${where}: ${variable.name} reads key ${keyRef.key} of ${source.description}, which does not declare it` +
                `${source.openKeys ? ` (${source.openKeys}; declare the key in spec.data or a target template)` : ""}`
            : `${where}: ${variable.name} reads ${kind} ${ns}/${keyRef.name}, which is not in the plan`,
        );
      }
      continue;
    }
    if (from.fieldRef) {
      const value = fieldValue(from.fieldRef.fieldPath, workload);
      if (value === undefined)
        problems.push(`${where}: ${variable.name} reads unknown field ${from.fieldRef.fieldPath}`);
      else env[variable.name] = value;
      continue;
    }
    if (from.resourceFieldRef) env[variable.name] = "1";
  }

  const files: Record<string, string> = {};
  const mounted = secretMounts(container, workload.podSpec, where);
  problems.push(...mounted.problems);
  for (const mount of mounted.mounts) {
    const source = secretSource(manifests, ns, mount.secret);
    const value = source?.keys.get(mount.key);
    if (value !== undefined) files[mount.path] = value;
    else
      problems.push(
        source
          ? `${where}: ${mount.variable} names key ${mount.key} of ${source.description}, which does not declare it` +
              `${source.openKeys ? ` (${source.openKeys}; declare the key in spec.data or a target template)` : ""}`
          : `${where}: ${mount.variable} names a file of Secret ${ns}/${mount.secret}, which is not in the plan`,
      );
  }
  return { env, files, problems };
}

/**
 * `env` with each `*_FILE` that names one of `files` pointed at a copy under `dir` (written there):
 * how the contract runs a process's start-up check on the files its pod would mount.
 */
export function withFilesUnder(dir: string, env: ProcessEnv, files: Record<string, string>): ProcessEnv {
  const out = { ...env };
  for (const [name, value] of Object.entries(env)) {
    const content = name.endsWith("_FILE") ? files[value] : undefined;
    if (content === undefined) continue;
    const local = join(dir, value);
    mkdirSync(dirname(local), { recursive: true });
    writeFileSync(local, content);
    out[name] = local;
  }
  return out;
}
