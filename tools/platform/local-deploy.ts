// How the local platform deploys a region's manifests without a kubelet, a cloud or operators
// from other projects: which objects it applies to the region's control plane and which it skips
// (SKIPPED_KINDS, with why), where the Secrets the ExternalSecrets would produce come from
// (localSecrets), and how each Deployment's container becomes a local process: its command and
// environment exactly as the manifest says, with only the variables in SUBSTITUTED replaced. A
// container's Secret volumes are written per process into its own directory, laid out and updated
// the way the kubelet does (secret-volume.ts), and its `*_FILE` variables point there.
// Everything a reviewer needs to judge "deployed as tested" is in this one file.
import { join, resolve } from "node:path";
import type { ProvisionedDatabase } from "../postgres/provision.ts";
import type { Region } from "../../operators/api/regionfailover.ts";
import type { ResourceRef } from "../../operators/api/crd.ts";
import type { KubeObject } from "../../operators/api/types.ts";
import { builtin, type KubeClient } from "../../operators/runtime/kube.ts";
import { TENANT_FINALIZER } from "../../operators/api/group.ts";
import { tenants } from "../../operators/api/resources.ts";
import type { Manifest } from "../../stacks/manifests.ts";
import {
  mountsServiceAccountToken,
  secretMounts,
  type EnvVar,
  type PodSpec as ManifestPodSpec,
} from "../../stacks/workload-env.ts";
import { writeSecretVolume } from "./secret-volume.ts";

export const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
export const FIELD_MANAGER = "freight-local-platform";

/** Kinds the platform does not apply, and why: each stands for machinery this machine does not run. */
export const SKIPPED_KINDS: Record<string, string> = {
  Deployment: "no scheduler or kubelet: its container runs as one local process (whatever its replicas)",
  Service: "no kube-proxy or load balancer: each process listens on its own loopback port (printed)",
  HorizontalPodAutoscaler: "no metrics pipeline to scale on: one process per Deployment",
  ScaledObject: "KEDA is not installed: the runner runs as one process instead of scaling from zero",
  PodDisruptionBudget: "nothing evicts pods here",
  PersistentVolumeClaim: "no storage provisioner: a job run here writes to a temporary directory",
  PodMonitor: "no Prometheus Operator: every process serves /metrics on its printed port",
  ServiceMonitor: "no Prometheus Operator: every process serves /metrics on its printed port",
  PrometheusRule: "no Prometheus Operator: `npm run dashboards:check` tests the rules with promtool",
  ExternalSecret:
    "no External Secrets Operator or Secrets Manager: localSecrets() supplies the values, written as each process's Secret volumes",
  TriggerAuthentication: "KEDA is not installed: nothing reads the queue depth to scale the runner",
  ClusterSecretStore: "no External Secrets Operator or Secrets Manager: localSecrets() supplies the values",
  SecretStore: "no External Secrets Operator or Secrets Manager: localSecrets() supplies the values",
  CronJob:
    "no controller-manager to schedule it: platform.runJob runs its container once, like `kubectl create job --from=cronjob/...`",
  Job: "no controller-manager to run it: the platform migrates the database itself before any process starts (platform.runJob runs one on demand)",
};

const BUILTIN_KINDS: Record<string, Omit<ResourceRef, "kind">> = {
  Namespace: { group: "", version: "v1", plural: "namespaces", namespaced: false },
  // Applied so `kubectl get networkpolicy` shows what production enforces, but enforced by nothing:
  // the local control plane has no network plugin and every process shares the loopback interface.
  // The flows are checked by cyclonus against the same policies (infra/workloads/network-flows.test.ts).
  NetworkPolicy: { group: "networking.k8s.io", version: "v1", plural: "networkpolicies", namespaced: true },
  ServiceAccount: { group: "", version: "v1", plural: "serviceaccounts", namespaced: true },
  ConfigMap: { group: "", version: "v1", plural: "configmaps", namespaced: true },
  Secret: { group: "", version: "v1", plural: "secrets", namespaced: true },
  CustomResourceDefinition: {
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    namespaced: false,
  },
  Role: { group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", namespaced: true },
  MutatingAdmissionPolicy: {
    group: "admissionregistration.k8s.io",
    version: "v1",
    plural: "mutatingadmissionpolicies",
    namespaced: false,
  },
  MutatingAdmissionPolicyBinding: {
    group: "admissionregistration.k8s.io",
    version: "v1",
    plural: "mutatingadmissionpolicybindings",
    namespaced: false,
  },
  RoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "rolebindings",
    namespaced: true,
  },
  ClusterRole: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterroles",
    namespaced: false,
  },
  ClusterRoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterrolebindings",
    namespaced: false,
  },
};

interface CrdManifest extends Manifest {
  spec: { group: string; names: { kind: string; plural: string }; scope: string };
}

/** The API reference of every kind the platform applies: built-ins plus the CRDs the stack installs. */
function resourceRefs(manifests: Manifest[]): Map<string, ResourceRef> {
  const refs = new Map<string, ResourceRef>();
  for (const [kind, ref] of Object.entries(BUILTIN_KINDS))
    refs.set(`${apiGroup(ref)}/${kind}`, { ...ref, kind });
  for (const m of manifests) {
    if (m.kind !== "CustomResourceDefinition") continue;
    const crd = m as CrdManifest;
    const version =
      (crd.spec as unknown as { versions?: { name: string; storage?: boolean }[] }).versions?.find(
        (v) => v.storage,
      )?.name ?? "v1";
    refs.set(`${crd.spec.group}/${crd.spec.names.kind}`, {
      group: crd.spec.group,
      version,
      plural: crd.spec.names.plural,
      kind: crd.spec.names.kind,
      namespaced: crd.spec.scope === "Namespaced",
    });
  }
  return refs;
}

const apiGroup = (ref: { group: string }) => ref.group || "core";
const groupOf = (apiVersion: string) => (apiVersion.includes("/") ? apiVersion.split("/")[0]! : "core");

export interface SkippedObject {
  kind: string;
  name: string;
  why: string;
}

/**
 * Splits a region's manifests into what is applied (in order: namespaces and CRDs, then the rest)
 * and what is skipped. A kind that is neither known nor in SKIPPED_KINDS stops the start: the
 * platform would otherwise silently run without something the stacks deploy.
 */
export function sortManifests(manifests: Manifest[]): {
  first: [Manifest, ResourceRef][];
  rest: [Manifest, ResourceRef][];
  skipped: SkippedObject[];
} {
  const refs = resourceRefs(manifests);
  const first: [Manifest, ResourceRef][] = [];
  const rest: [Manifest, ResourceRef][] = [];
  const skipped: SkippedObject[] = [];
  for (const m of manifests) {
    const why = SKIPPED_KINDS[m.kind];
    if (why) {
      skipped.push({ kind: m.kind, name: m.metadata.name, why });
      continue;
    }
    const ref = refs.get(`${groupOf(m.apiVersion)}/${m.kind}`);
    if (!ref) {
      throw new Error(
        `The stacks deploy a ${m.kind} (${m.apiVersion}) named ${m.metadata.name}, which the local platform neither applies nor skips. ` +
          `Add it to SKIPPED_KINDS in tools/platform/local-deploy.ts with the reason, or to BUILTIN_KINDS if the local control plane serves it.`,
      );
    }
    (m.kind === "Namespace" || m.kind === "CustomResourceDefinition" ? first : rest).push([m, ref]);
  }
  return { first, rest, skipped };
}

async function waitEstablished(admin: KubeClient, crdNames: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const name of crdNames) {
    for (;;) {
      const crd = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
        builtin.crds,
        name,
      );
      if (crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not Established within 30 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Server-side applies what the region's control plane can hold; returns what was skipped. */
export async function applyRegionObjects(admin: KubeClient, manifests: Manifest[]): Promise<SkippedObject[]> {
  const { first, rest, skipped } = sortManifests(manifests);
  const apply = ([m, ref]: [Manifest, ResourceRef]) =>
    admin.apply(ref, m as unknown as KubeObject, { fieldManager: FIELD_MANAGER, force: true });
  await Promise.all(first.map(apply));
  await waitEstablished(
    admin,
    first.filter(([m]) => m.kind === "CustomResourceDefinition").map(([m]) => m.metadata.name),
  );
  await Promise.all(rest.map(apply));
  if (rest.some(([m]) => m.kind === "MutatingAdmissionPolicyBinding")) await waitForTenantAdmission(admin);
  return skipped;
}

/**
 * Waits until a Tenant created now gets the offboarding finalizer from its admission policy (a
 * dry-run create shows it). Until the API server has the Tenant schema for the policy, creating a
 * Tenant answers 503 ("Resource kind ... not found"), even a while after the CRD is Established.
 */
export async function waitForTenantAdmission(admin: KubeClient, namespace = "tenants"): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last: unknown;
  for (;;) {
    try {
      const created = await admin.request<KubeObject>("POST", admin.path(tenants, namespace), {
        query: { dryRun: "All" },
        body: {
          apiVersion: `${tenants.group}/${tenants.version}`,
          kind: "Tenant",
          metadata: { name: "admission-probe", namespace },
          spec: { plan: "admission-probe" },
        },
      });
      if (created.metadata.finalizers?.includes(TENANT_FINALIZER)) return;
      last = new Error("the Tenant was admitted without the offboarding finalizer");
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `The tenant finalizer's admission policy did not take effect within 60 s: ${(last as Error).message}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The support receiver's bearer token on the local platform (a local-only value, like the Stripe keys). */
export const LOCAL_ALERT_RECEIVER_TOKEN = "local-platform-alert-receiver-token";

/** Billing's Stripe credentials here: what the local Stripe stand-in accepts and signs with. */
export const LOCAL_STRIPE = {
  secretKey: "sk_test_local_platform",
  webhookSecret: "whsec_local_platform",
} as const;

/** The console's signing key on the local platform (bench:console signs its sessions with it). */
export const LOCAL_CONSOLE_SESSION_SECRET = "local-console-session-secret-not-for-production";

/**
 * The Secrets the stacks' ExternalSecrets would produce, by Secret name and key: the region's
 * database roles on its local PostgreSQL (the secondary's on the streaming replica, as its RDS
 * endpoint is the cross-region replica) and placeholders for third-party keys nothing calls
 * locally. A container that references a Secret or key missing here stops the start, naming it.
 */
export function localSecrets(
  urls: ProvisionedDatabase["urls"],
  regions: Record<Region, ProvisionedDatabase["urls"]>,
): Record<string, Record<string, string>> {
  const freight = (url: string) => url.replace(/\/postgres$/, "/freight");
  // The read canary's database: the other region's (the replica, for the primary's API).
  const peer = regions.primary.app === urls.app ? regions.secondary : regions.primary;
  // freight_ops reads only on a server in recovery (migration 0035): every ops login gets the
  // streaming replica, which stands in for the primary region's analytics replica as well as being
  // the secondary region's database (in AWS each region's analyticsReplicaAddress ?? its address).
  const analytics = regions.secondary.ops;
  return {
    "quote-api-database": { DATABASE_URL: urls.app, READ_CANARY_DATABASE_URL: peer.app },
    "quote-api-ops-database": { OPS_DATABASE_URL: analytics },
    "runner-database": { DATABASE_URL: urls.runner },
    "operators-database": { DATABASE_URL: urls.operator },
    "billing-database": { DATABASE_URL: urls.billing, BILLING_DATABASE_URL: urls.billing },
    "ops-database": { DATABASE_URL: analytics, OPS_DATABASE_URL: analytics },
    "usage-warnings-database": { OPERATOR_DATABASE_URL: urls.operator },
    "onboarding-nudges-database": { OPERATOR_DATABASE_URL: urls.operator },
    "lead-signals-database": { OPERATOR_DATABASE_URL: urls.operator },
    "nps-invitations-database": { OPERATOR_DATABASE_URL: urls.operator },
    "carrier-compliance-database": { OPERATOR_DATABASE_URL: urls.operator },
    // The URL is replaced by the local ops receiver's (SUBSTITUTED); the secret is a local-only value.
    "crm-webhook": {
      CRM_WEBHOOK_URL: "http://127.0.0.1/crm-webhook",
      CRM_WEBHOOK_SECRET: "local-platform-crm-signing-secret",
    },
    "dsr-drill-database": { OPERATOR_DATABASE_URL: urls.operator },
    "pricing-backtest-database": { OPERATOR_DATABASE_URL: urls.operator },
    "migrations-database": { MIGRATIONS_DATABASE_URL: urls.owner },
    "exec-report-database": { OPS_DATABASE_URL: analytics },
    "evidence-database": { DATABASE_URL: urls.operator },
    "evidence-probe-database": { RLS_PROBE_DATABASE_URL: urls.app },
    "evidence-ops-database": { OPS_DATABASE_URL: analytics },
    // The postgres driver stands in for RDS here (SUBSTITUTED) and promotes with pg_promote, which
    // only a superuser may call; in AWS the same keys hold freight_operator and RDS promotes.
    "failover-databases": {
      PRIMARY_DATABASE_URL: freight(regions.primary.superuser),
      SECONDARY_DATABASE_URL: freight(regions.secondary.superuser),
    },
    stripe: { STRIPE_SECRET_KEY: LOCAL_STRIPE.secretKey, STRIPE_WEBHOOK_SECRET: LOCAL_STRIPE.webhookSecret },
    // Replaced by the local receivers' URLs (SUBSTITUTED); the value only has to be a URL of its kind.
    "ops-webhook": { OPS_WEBHOOK_URL: "http://127.0.0.1/ops-webhook" },
    // The token the local Alertmanager (or a test posting as it) sends to the API's receiver.
    "alert-receiver": { ALERT_RECEIVER_TOKEN: LOCAL_ALERT_RECEIVER_TOKEN },
    "billing-mail": { SMTP_URL: "smtp://127.0.0.1:25" },
    // Both regions share it, as they share the Secrets Manager entry, so a session survives a flip.
    "console-session": { CONSOLE_SESSION_SECRET: LOCAL_CONSOLE_SESSION_SECRET },
    // Both replaced by the stand-ins' keys (SUBSTITUTED): the LLM provider's and workflow automation's.
    "third-party-api-keys": {
      LLM_API_KEY: "local-llm-key",
      WORKFLOW_AUTOMATION_API_KEY: "local-workflow-key",
    },
  };
}

/** Which program a container runs, from its command: decides readiness and what it is shown as. */
export type ProcessRole = "quote-api" | "runner" | "operators" | "other";

export function processRole(command: string[]): ProcessRole {
  const script = command.find((part) => part.endsWith(".ts")) ?? "";
  if (script === "app/server.ts") return "quote-api";
  if (script === "app/runner/main.ts") return "runner";
  if (script === "operators/main.ts") return "operators";
  return "other";
}

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: { secretRef?: { name: string }; configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: number | string } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
}

interface PodSpec extends Omit<ManifestPodSpec, "containers"> {
  containers: Container[];
}

/** One Secret volume of a container: where the pod mounts it and the local values of its keys. */
export interface SecretVolume {
  mountPath: string;
  secret: string;
  keys: Record<string, string>;
}

/** Kinds whose pod template becomes a local process: Deployments at start, the others on demand. */
export type WorkloadKind = "Deployment" | "CronJob" | "Job";

/** Where each kind keeps its pod spec. */
function podSpecOf(m: Manifest): PodSpec | undefined {
  const spec = m["spec"] as
    { template?: { spec?: PodSpec }; jobTemplate?: { spec?: { template?: { spec?: PodSpec } } } } | undefined;
  return m.kind === "CronJob" ? spec?.jobTemplate?.spec?.template?.spec : spec?.template?.spec;
}

/** One container of a Deployment (or a CronJob's or Job's pod), as the manifest describes it (before any substitution). */
export interface Workload {
  region: Region;
  kind: WorkloadKind;
  /** The Deployment's (CronJob's, Job's) name. */
  deployment: string;
  namespace: string;
  container: string;
  role: ProcessRole;
  command: string[];
  serviceAccount: string;
  mountsToken: boolean;
  /** Environment resolved from the manifest: values, Secret and ConfigMap references, fieldRefs. */
  env: Record<string, string>;
  /** The Secret volumes its `*_FILE` variables name, with their local values (written by substitute). */
  secretVolumes: SecretVolume[];
  ports: number[];
  readiness?: { path: string; port: number };
}

export function podName(region: Region, deployment: string, replica = 0): string {
  return `${deployment}-${region}-${replica}`;
}

/** The Deployments' containers of a region's manifests, with their environment resolved. */
export function regionWorkloads(
  region: Region,
  manifests: Manifest[],
  secrets: Record<string, Record<string, string>>,
): Workload[] {
  return podWorkloads(region, manifests, secrets, ["Deployment"]);
}

/**
 * The containers of one CronJob or Job of a region's manifests, resolved as a Deployment's are; they
 * are not applied (SKIPPED_KINDS) but run on demand. Resolved one at a time, so a Secret that only
 * another job reads does not stop this one.
 */
export function regionJob(
  region: Region,
  manifests: Manifest[],
  secrets: Record<string, Record<string, string>>,
  name: string,
): Workload[] {
  const named = manifests.filter(
    (m) => (m.kind === "CronJob" || m.kind === "Job") && m.metadata.name === name,
  );
  if (named.length === 0) {
    const known = manifests
      .filter((m) => m.kind === "CronJob" || m.kind === "Job")
      .map((m) => `${m.kind} ${m.metadata.name}`);
    throw new Error(
      `The ${region} region deploys no CronJob or Job named ${name}; it has ${known.length ? known.join(", ") : "none"}.`,
    );
  }
  return podWorkloads(
    region,
    [...manifests.filter((m) => m.kind !== "CronJob" && m.kind !== "Job"), ...named],
    secrets,
    ["CronJob", "Job"],
  );
}

function podWorkloads(
  region: Region,
  manifests: Manifest[],
  secrets: Record<string, Record<string, string>>,
  kinds: WorkloadKind[],
): Workload[] {
  const configMaps = new Map(
    manifests
      .filter((m) => m.kind === "ConfigMap")
      .map((m) => [
        `${m.metadata.namespace}/${m.metadata.name}`,
        (m["data"] ?? {}) as Record<string, string>,
      ]),
  );
  const declaredSecrets = new Set(
    manifests
      .filter((m) => m.kind === "ExternalSecret" || m.kind === "Secret")
      .map((m) => {
        const target = (m["spec"] as { target?: { name?: string } } | undefined)?.target?.name;
        return `${m.metadata.namespace}/${target ?? m.metadata.name}`;
      }),
  );
  const workloads: Workload[] = [];
  for (const m of manifests) {
    if (!(kinds as string[]).includes(m.kind)) continue;
    const namespace = m.metadata.namespace ?? "default";
    const pod = podSpecOf(m);
    if (!pod) throw new Error(`${region} ${m.kind} ${namespace}/${m.metadata.name} has no pod template.`);
    const serviceAccount = pod.serviceAccountName ?? "default";
    for (const container of pod.containers) {
      const where = `${region} ${m.kind} ${namespace}/${m.metadata.name} container ${container.name}`;
      const command = [...(container.command ?? []), ...(container.args ?? [])];
      if (!container.command?.length) {
        throw new Error(
          `${where} has no command: the image's entrypoint is not known here. Give the container an explicit command in infra/workloads (e.g. ["node", "app/server.ts"]).`,
        );
      }
      const secret = (name: string): Record<string, string> => {
        if (!declaredSecrets.has(`${namespace}/${name}`))
          throw new Error(`${where} reads Secret ${name}, which the stacks never create in ${namespace}.`);
        const values = secrets[name];
        if (!values)
          throw new Error(
            `${where} reads Secret ${name}, which has no local value: add it to localSecrets() in tools/platform/local-deploy.ts.`,
          );
        return values;
      };
      const env: Record<string, string> = {};
      for (const source of container.envFrom ?? []) {
        if (source.secretRef) Object.assign(env, secret(source.secretRef.name));
        if (source.configMapRef)
          Object.assign(env, configMaps.get(`${namespace}/${source.configMapRef.name}`) ?? {});
      }
      for (const variable of container.env ?? []) {
        const from = variable.valueFrom;
        if (variable.value !== undefined) env[variable.name] = variable.value;
        else if (from?.secretKeyRef) {
          const value = secret(from.secretKeyRef.name)[from.secretKeyRef.key];
          if (value === undefined && !from.secretKeyRef.optional)
            throw new Error(
              `${where} reads key ${from.secretKeyRef.key} of Secret ${from.secretKeyRef.name}, which has no local value: add it to localSecrets() in tools/platform/local-deploy.ts.`,
            );
          if (value !== undefined) env[variable.name] = value;
        } else if (from?.configMapKeyRef) {
          const value = configMaps.get(`${namespace}/${from.configMapKeyRef.name}`)?.[
            from.configMapKeyRef.key
          ];
          if (value !== undefined) env[variable.name] = value;
        } else if (from?.fieldRef) {
          const fields: Record<string, string> = {
            "metadata.name": podName(region, m.metadata.name),
            "metadata.namespace": namespace,
            "spec.serviceAccountName": serviceAccount,
            "status.podIP": "127.0.0.1",
          };
          const value = fields[from.fieldRef.fieldPath];
          if (value === undefined)
            throw new Error(
              `${where} reads field ${from.fieldRef.fieldPath}, which the local platform does not provide.`,
            );
          env[variable.name] = value;
        } else env[variable.name] = "";
      }
      const mounted = secretMounts(container, pod, where);
      if (mounted.problems.length) throw new Error(mounted.problems.join("\n"));
      const secretVolumes: SecretVolume[] = [];
      for (const mount of mounted.mounts) {
        const keys = secret(mount.secret);
        if (keys[mount.key] === undefined)
          throw new Error(
            `${where} reads key ${mount.key} of Secret ${mount.secret} (${mount.variable}), which has no local value: add it to localSecrets() in tools/platform/local-deploy.ts.`,
          );
        if (!secretVolumes.some((v) => v.mountPath === mount.mountPath))
          secretVolumes.push({ mountPath: mount.mountPath, secret: mount.secret, keys });
      }
      const ports = (container.ports ?? []).map((p) => p.containerPort);
      const probe = container.readinessProbe?.httpGet;
      const probePort =
        typeof probe?.port === "string"
          ? container.ports?.find((p) => p.name === probe.port)?.containerPort
          : probe?.port;
      workloads.push({
        region,
        kind: m.kind as WorkloadKind,
        deployment: m.metadata.name,
        namespace,
        container: container.name,
        role: processRole(command),
        command,
        serviceAccount,
        mountsToken: mountsServiceAccountToken(pod),
        env,
        secretVolumes,
        ports,
        readiness: probe && probePort !== undefined ? { path: probe.path, port: probePort } : undefined,
      });
    }
  }
  return workloads;
}

/** What a region's endpoints are on this machine, for the substitutions below. */
export interface LocalEndpoints {
  /** Each region's quote API, e.g. http://127.0.0.1:41234 (stands for its load balancer / DNS name). */
  api: Record<Region, string>;
  /**
   * moto (tools/aws/moto.ts): the regions' Route 53 and Secrets Manager, its IAM user's key (what
   * every local process signs with) and the hosted zone it created for the stacks' domain.
   */
  aws: {
    endpoint: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    hostedZoneId?: string;
    /**
     * Route 53 as the processes reach it: the local health checkers (GetHealthCheckStatus), which
     * pass every other request to moto. Moto itself when absent.
     */
    route53Endpoint?: string;
    /** The regions' health checks as created on moto (their ids replace the stacks'). */
    healthChecks?: Record<Region, string>;
  };
  /** Each region's local S3 (holding its documents bucket). */
  s3?: Record<Region, string>;
  /** The local Stripe API, when a process has billing on. */
  stripe?: string;
  /** The ops webhook receiver (receivers.ts OpsWebhook): stands for the ops endpoint. */
  ops?: string;
  /** The local SMTP server (receivers.ts Mailbox): stands for the mail service (SES). */
  smtp?: string;
  /** The OpenAI-compatible LLM stand-in (fakes/llm-server.ts): its base URL and the key it accepts. */
  llm?: { baseUrl: string; apiKey: string };
  /** The workflow-automation (n8n) stand-in (fakes/workflow-server.ts): its webhook base and key. */
  workflow?: { baseUrl: string; apiKey: string };
  /** Each region's PostgreSQL data directory: the host the local fence of a lost primary reaches. */
  databaseDataDirs?: Record<Region, string>;
}

/**
 * The only variables the platform changes or adds, and why. Everything else a process gets is
 * the manifest's own value. (Ports are the one non-endpoint: two regions share one machine.)
 */
export const SUBSTITUTED: Record<string, string> = {
  "PORT, RUNNER_PORT, PROBE_PORT (any *PORT set to a container port)":
    "two regions and several processes share one machine: each container port gets a free local port",
  "HOST, RUNNER_HOST, PROBE_HOST (added)": "listen on loopback only: a dev machine, not a pod network",
  "KUBECONFIG (added; replaces KUBERNETES_API=in-cluster)":
    "a pod gets its ServiceAccount's token projected (for the API server's audience); here a kubeconfig minted for the same ServiceAccount, for the local API server's own audience",
  "*_FILE (each Secret volume's mount path under the process's own directory)":
    "no kubelet mounts volumes here: the platform writes each Secret volume the way the kubelet does (..data swap) into a directory per process",
  "REGION_PEER_URL, PUBLIC_BASE_URL":
    "the regions' public endpoints (load balancer, Route 53) are local ports",
  "FAILOVER_PRIMARY_HEALTH_URL, FAILOVER_SECONDARY_HEALTH_URL":
    "the regions' /readyz through their local ports",
  "FAILOVER_DATABASE_DRIVER=rds -> postgres":
    "the local databases are not RDS instances: pg_promote promotes the local replica (no RDS API is called)",
  "RDS_*_FENCE_SECURITY_GROUP -> FAILOVER_PRIMARY_DB_DATA_DIR, FAILOVER_SECONDARY_DB_DATA_DIR (added with the postgres driver)":
    "an automatic flip fences the old primary before promoting: in AWS by swapping its security groups for a no-ingress one and rebooting it; here the same host this process runs on holds the data directory, which the postgres driver marks with standby.signal and whose postmaster it shuts down",
  "AWS_ENDPOINT_URL_ROUTE_53, ROUTE53_HOSTED_ZONE_ID, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (added, operators)":
    "Route 53 is moto, holding the zone and weighted, health-checked records as the stacks create them; moto names the zone itself, and its IAM user's key (signatures checked) stands where EKS injects the IRSA role's. The endpoint is the local health checkers (tools/fakes/route53-health-checkers.ts), which answer GetHealthCheckStatus from probing each region's /readyz (moto always answers Success) and pass every other request to moto",
  "ROUTE53_PRIMARY_HEALTH_CHECK_ID, ROUTE53_SECONDARY_HEALTH_CHECK_ID":
    "the health checks the platform created on moto, as the stacks create them; moto names them",
  "DOCUMENTS_S3_ENDPOINT_PRIMARY, DOCUMENTS_S3_ENDPOINT_SECONDARY, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (added, documents)":
    "each region's S3 is a local S3 gateway (versitygw, which checks presigned URLs) holding its documents bucket, with the same local key where EKS injects the IRSA role's",
  "AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (added, the evidence job)":
    "the published supply-chain reports are in the region's documents bucket, which is that region's local S3 gateway, read with the local key where EKS injects the IRSA role's",
  "STRIPE_API_URL (added wherever a Stripe key is mounted: the API with BILLING=on, billing's jobs)":
    "the local Stripe stand-in",
  "AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (added wherever secrets are watched: quote API, runner, operators, the evidence job)":
    "the region's Secrets Manager (rotation dates, tenants' SSO client secrets) is moto, with its IAM user's key where EKS injects the IRSA role's",
  "OPS_WEBHOOK_URL (the Secret file's content)":
    "the ops endpoint (chat/paging webhook) is the platform's ops receiver, whose deliveries tests and on-call read",
  "CRM_WEBHOOK_URL (the Secret file's content)":
    "the CRM webhook is the platform's ops receiver too: lead signals arrive there as event lead_signal",
  "SMTP_URL (the Secret file's content)":
    "the mail service (SES SMTP) is the platform's local SMTP server; BILLING_EMAIL_FROM is kept",
  "LLM_BASE_URL, LLM_API_KEY (the Secret file's content)":
    "the LLM provider is the platform's OpenAI-compatible stand-in (tools/fakes/llm-server.ts), which game days slow down, fail or rate-limit; LLM_MODEL is kept",
  "WORKFLOW_AUTOMATION_URL, WORKFLOW_AUTOMATION_API_KEY (the Secret file's content)":
    "workflow automation (n8n) is the platform's webhook stand-in (tools/fakes/workflow-server.ts), which drills make fail or give a rotated key",
  "EXIT_WITH_STDIN (added)": "the manager exits when the platform does, even if it is killed",
};

/** The local AWS key as a process's environment (in EKS, the pod's IRSA role). */
function awsCredentialEnv(credentials: LocalEndpoints["aws"]["credentials"]): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  };
}

/** The public host a region's endpoint variables name, replaced by the local API (path kept). */
function localUrl(value: string, base: string): string {
  try {
    const url = new URL(value);
    return `${base}${url.pathname === "/" ? "" : url.pathname}${url.search}`;
  } catch {
    return base;
  }
}

/**
 * Applies SUBSTITUTED to a workload's environment. `ports` maps container ports to local ones; the
 * workload's Secret volumes are written under `secretDir` (the process's own directory).
 */
export function substitute(
  workload: Workload,
  env: Record<string, string>,
  context: {
    ports: Map<number, number>;
    endpoints: LocalEndpoints;
    kubeconfig?: string;
    secretDir: string;
  },
): Record<string, string> {
  const out = { ...env };
  const local: Record<string, string | undefined> = {
    OPS_WEBHOOK_URL: context.endpoints.ops,
    CRM_WEBHOOK_URL: context.endpoints.ops,
    SMTP_URL: context.endpoints.smtp,
    LLM_API_KEY: context.endpoints.llm?.apiKey,
    WORKFLOW_AUTOMATION_API_KEY: context.endpoints.workflow?.apiKey,
  };
  for (const volume of workload.secretVolumes) {
    const keys = Object.fromEntries(
      Object.entries(volume.keys).map(([key, value]) => [key, local[key] ?? value]),
    );
    writeSecretVolume(join(context.secretDir, volume.mountPath), keys);
  }
  for (const [name, value] of Object.entries(out)) {
    const volume = workload.secretVolumes.find((v) => value.startsWith(`${v.mountPath}/`));
    if (name.endsWith("_FILE") && volume) out[name] = join(context.secretDir, value);
  }
  const peer: Region = workload.region === "primary" ? "secondary" : "primary";
  for (const [name, value] of Object.entries(out)) {
    const local = /PORT$/.test(name) ? context.ports.get(Number(value)) : undefined;
    if (local !== undefined) out[name] = String(local);
  }
  for (const name of ["HOST", "RUNNER_HOST", "PROBE_HOST"]) out[name] = "127.0.0.1";
  if (context.kubeconfig) {
    out["KUBECONFIG"] = context.kubeconfig;
    // In a pod KUBERNETES_API=in-cluster reads the mounted token; here the minted kubeconfig is it.
    delete out["KUBERNETES_API"];
  }
  if (out["REGION_PEER_URL"])
    out["REGION_PEER_URL"] = localUrl(out["REGION_PEER_URL"], context.endpoints.api[peer]);
  if (out["PUBLIC_BASE_URL"])
    out["PUBLIC_BASE_URL"] = localUrl(out["PUBLIC_BASE_URL"], context.endpoints.api[workload.region]);
  for (const region of ["primary", "secondary"] as const) {
    const name = `FAILOVER_${region.toUpperCase()}_HEALTH_URL`;
    if (out[name]) out[name] = localUrl(out[name], context.endpoints.api[region]);
  }
  if (out["FAILOVER_DATABASE_DRIVER"] === "rds") {
    out["FAILOVER_DATABASE_DRIVER"] = "postgres";
    // The host fence stands for RDS's whenever the databases are local: automatic mode may be
    // switched on by spec (on-call) as well as by the stack config.
    const dirs = context.endpoints.databaseDataDirs;
    for (const region of ["primary", "secondary"] as const) {
      delete out[`RDS_${region.toUpperCase()}_FENCE_SECURITY_GROUP`];
      if (dirs) out[`FAILOVER_${region.toUpperCase()}_DB_DATA_DIR`] = dirs[region];
    }
  }
  const { aws } = context.endpoints;
  if (workload.role === "operators" || out["FAILOVER_PRIMARY_HEALTH_URL"]) {
    out["AWS_ENDPOINT_URL_ROUTE_53"] = aws.route53Endpoint ?? aws.endpoint;
    if (out["ROUTE53_HOSTED_ZONE_ID"] && aws.hostedZoneId) out["ROUTE53_HOSTED_ZONE_ID"] = aws.hostedZoneId;
    for (const region of ["primary", "secondary"] as const) {
      const name = `ROUTE53_${region.toUpperCase()}_HEALTH_CHECK_ID`;
      if (out[name] && aws.healthChecks) out[name] = aws.healthChecks[region];
      else delete out[name];
    }
    Object.assign(out, awsCredentialEnv(aws.credentials));
    out["AWS_REGION"] ??= "us-east-1";
  }
  if (out["DOCUMENTS_BUCKET_PRIMARY"] && context.endpoints.s3) {
    out["DOCUMENTS_S3_ENDPOINT_PRIMARY"] = context.endpoints.s3.primary;
    out["DOCUMENTS_S3_ENDPOINT_SECONDARY"] = context.endpoints.s3.secondary;
    Object.assign(out, awsCredentialEnv(aws.credentials));
  }
  if (out["EVIDENCE_SUPPLY_CHAIN_S3_URI"] && context.endpoints.s3) {
    // The URI names the region's documents bucket, which is this region's local S3 here.
    out["AWS_ENDPOINT_URL_S3"] = context.endpoints.s3[workload.region];
    Object.assign(out, awsCredentialEnv(aws.credentials));
  }
  if ((out["STRIPE_SECRET_KEY_FILE"] || out["STRIPE_SECRET_KEY"]) && context.endpoints.stripe)
    out["STRIPE_API_URL"] = context.endpoints.stripe;
  if ((out["SSO_SESSION_MINUTES"] || out["SECRETS_ROTATION_WATCH"]) && aws.endpoint) {
    out["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = aws.endpoint;
    Object.assign(out, awsCredentialEnv(aws.credentials));
  }
  if (out["LLM_BASE_URL"] && context.endpoints.llm) out["LLM_BASE_URL"] = context.endpoints.llm.baseUrl;
  if (out["WORKFLOW_AUTOMATION_URL"] && context.endpoints.workflow)
    out["WORKFLOW_AUTOMATION_URL"] = context.endpoints.workflow.baseUrl;
  if (workload.role === "operators") out["EXIT_WITH_STDIN"] = "true";
  return out;
}
