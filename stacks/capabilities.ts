// What each region must run, and the evidence in a planned stack that it does: the deploy contract's
// capability table. Every capability names the tests that show it works; `missing()` says what the
// region's manifests lack for it to run the way those tests run it (empty when it is deployed). A
// capability that is tested but not deployed is the bug class issue 14 is about: code that works in a
// test and nowhere else.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { parse as parseYaml } from "yaml";

import { DEFAULT_PLANS } from "../app/db/plans.ts";
import type { AppConfig } from "../app/config.ts";
import type { FailoverConfig } from "../operators/controllers/failover/config.ts";
import type { OperatorConfig } from "../operators/config.ts";
import { API_GROUP, apiVersion as PLATFORM_API_VERSION } from "../operators/api/group.ts";
import type { Manifest } from "./manifests.ts";
import type { PlannedResource, PlannedStack } from "./plan.ts";
import { processOfContainer, type ProcessEnv, type ProcessSpec } from "./processes.ts";
import { SERVICE_ACCOUNT_MOUNT } from "../infra/workloads/pod-spec.ts";
import {
  containerEnv,
  mountsServiceAccountToken,
  secretMounts,
  withFilesUnder,
  workloadsOf,
  type Container,
  type Workload,
} from "./workload-env.ts";

export interface DeployedProcess {
  workload: Workload;
  container: Container;
  /** `Deployment freight/quote-api container quote-api` */
  where: string;
  process?: ProcessSpec;
  /** Why the process could not be told from the container, if it could not. */
  unknownProcess?: string;
  args: string[];
  env: ProcessEnv;
  /** Secret/ConfigMap/field references that would keep the pod from starting. */
  envProblems: string[];
  /** What the process's start-up check returned, when it accepted the environment. */
  parsed?: unknown;
  /** The start-up check's refusal, when it refused. */
  refused?: string;
}

export interface RegionDeployment {
  stack: string;
  plan: PlannedStack;
  manifests: Manifest[];
  processes: DeployedProcess[];
}

/** Resolves every container of the plan to its process, environment and start-up verdict. */
export function regionDeployment(plan: PlannedStack, manifests: Manifest[]): RegionDeployment {
  const processes: DeployedProcess[] = [];
  for (const workload of workloadsOf(manifests)) {
    const containers = [...(workload.podSpec.initContainers ?? []), ...workload.podSpec.containers];
    for (const container of containers) {
      const where = `${workload.kind} ${workload.namespace}/${workload.name} container ${container.name}`;
      const { env, files, problems } = containerEnv(container, workload, manifests);
      const entry: DeployedProcess = { workload, container, where, args: [], env, envProblems: problems };
      try {
        const resolved = processOfContainer(container);
        entry.process = resolved.process;
        entry.args = resolved.args;
      } catch (error) {
        entry.unknownProcess = (error as Error).message;
      }
      if (entry.process) {
        // The start-up check reads the Secret files the pod would mount: samples, written for it.
        const dir = mkdtempSync(join(tmpdir(), "deploy-contract-"));
        try {
          entry.parsed = entry.process.parse(withFilesUnder(dir, env, files), entry.args);
        } catch (error) {
          entry.refused = (error as Error).message;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      processes.push(entry);
    }
  }
  return { stack: plan.stack, plan, manifests, processes };
}

export interface Capability {
  id: string;
  /** What a user of the region notices when it runs. */
  description: string;
  /** Test files that show it works; the contract checks they exist. */
  testedBy: string[];
  /** Whether this region must run it (default: always). */
  required?: (d: RegionDeployment) => boolean;
  /** What is missing for the region to run it; empty when deployed. */
  missing: (d: RegionDeployment) => string[];
}

// --- evidence helpers -------------------------------------------------------------------------

function running(d: RegionDeployment, processId: string, kinds?: Workload["kind"][]): DeployedProcess[] {
  return d.processes.filter(
    (p) => p.process?.id === processId && (!kinds || kinds.includes(p.workload.kind)),
  );
}

/**
 * [] when some instance of the process starts (its environment resolves and its start-up check
 * accepts it) and passes `check`; otherwise what is wrong: none deployed, none starts, or what the
 * check finds missing in the first one that starts.
 */
function satisfied(
  d: RegionDeployment,
  processId: string,
  kinds: Workload["kind"][],
  check: (p: DeployedProcess) => string[] = () => [],
): string[] {
  const found = running(d, processId, kinds);
  if (found.length === 0) return [`no ${kinds.join("/")} starts the ${processId} process`];
  const starting = found.filter((p) => p.parsed !== undefined && p.envProblems.length === 0);
  if (starting.length === 0) {
    return found.map(
      (p) => `${p.where} does not start: ${[...p.envProblems, p.refused].filter(Boolean).join("; ")}`,
    );
  }
  const verdicts = starting.map(check);
  return verdicts.some((v) => v.length === 0) ? [] : verdicts[0]!;
}

/** The quote API's parsed configuration (app/config.ts). */
const apiConfig = (p: DeployedProcess) => p.parsed as AppConfig;

function resource(
  plan: PlannedStack,
  predicate: (r: PlannedResource) => boolean,
): PlannedResource | undefined {
  return plan.resources.find(predicate);
}

function helmValues(plan: PlannedStack, chart: string): Record<string, unknown> | undefined {
  const release = resource(
    plan,
    (r) => r.type === "kubernetes:helm.sh/v3:Release" && r.props["chart"] === chart,
  );
  return release ? ((release.props["values"] as Record<string, unknown> | undefined) ?? {}) : undefined;
}

function dig(value: unknown, ...keys: string[]): unknown {
  return keys.reduce<unknown>(
    (v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined),
    value,
  );
}

/** URN of the resource that produced a manifest (same kind, name and namespace). */
function urnOf(d: RegionDeployment, kind: string, name: string, namespace?: string): string | undefined {
  return resource(d.plan, (r) => {
    const meta = r.props["metadata"] as { name?: string; namespace?: string } | undefined;
    return r.type.endsWith(`:${kind}`) && meta?.name === name && meta?.namespace === namespace;
  })?.urn;
}

function dependsOn(d: RegionDeployment, urn: string | undefined, target: string | undefined): boolean {
  if (!urn || !target) return false;
  const r = resource(d.plan, (x) => x.urn === urn);
  return Boolean(r?.opts?.dependsOn?.includes(target));
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
}

/** Whether the ServiceAccount may `verbs` on `resource` in `namespace`, by the plan's RBAC. */
function granted(
  d: RegionDeployment,
  account: { namespace: string; name: string },
  want: { apiGroup: string; resource: string; verbs: string[]; namespace: string },
): boolean {
  const bindings = d.manifests.filter(
    (m) =>
      (m.kind === "RoleBinding" && m.metadata.namespace === want.namespace) ||
      m.kind === "ClusterRoleBinding",
  );
  const rules: PolicyRule[] = [];
  for (const binding of bindings) {
    const subjects =
      (binding["subjects"] as { kind: string; name: string; namespace?: string }[] | undefined) ?? [];
    if (
      !subjects.some(
        (s) => s.kind === "ServiceAccount" && s.name === account.name && s.namespace === account.namespace,
      )
    )
      continue;
    const roleRef = binding["roleRef"] as { kind: string; name: string };
    const role = d.manifests.find(
      (m) =>
        m.kind === roleRef.kind &&
        m.metadata.name === roleRef.name &&
        (roleRef.kind === "ClusterRole" || m.metadata.namespace === binding.metadata.namespace),
    );
    rules.push(...((role?.["rules"] as PolicyRule[] | undefined) ?? []));
  }
  const matches = (list: string[] | undefined, value: string) =>
    Boolean(list?.includes(value) || list?.includes("*"));
  return want.verbs.every((verb) =>
    rules.some(
      (r) =>
        matches(r.apiGroups, want.apiGroup) && matches(r.resources, want.resource) && matches(r.verbs, verb),
    ),
  );
}

function accountOf(p: DeployedProcess): { namespace: string; name: string } {
  return { namespace: p.workload.namespace, name: p.workload.podSpec.serviceAccountName ?? "default" };
}

/**
 * What keeps a process that runs with KUBERNETES_API=in-cluster from doing `want`: its account's
 * grant, and the ServiceAccount token where the in-cluster loader reads it (declared as a projected
 * volume, or automounted).
 */
function inClusterAccess(
  d: RegionDeployment,
  p: DeployedProcess,
  want: { apiGroup: string; resource: string; verbs: string[]; namespace: string },
): string[] {
  const problems: string[] = [];
  const account = accountOf(p);
  if (!granted(d, account, want))
    problems.push(
      `ServiceAccount ${account.namespace}/${account.name} may not ${want.verbs.join("/")} ${want.resource} in ${want.namespace}`,
    );
  const pod = p.workload.podSpec;
  const declaredAtPath = (p.container.volumeMounts ?? []).some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT);
  if (!mountsServiceAccountToken(pod) || (pod.automountServiceAccountToken === false && !declaredAtPath))
    problems.push(
      `${p.where} mounts no ServiceAccount token at ${SERVICE_ACCOUNT_MOUNT}, so KUBERNETES_API=in-cluster cannot work`,
    );
  return problems;
}

/** A scheduled process: a CronJob whose container starts it with an environment it accepts. */
function scheduled(d: RegionDeployment, processId: string): string[] {
  return satisfied(d, processId, ["CronJob"], (p) =>
    p.workload.schedule ? [] : [`${p.where} has no schedule`],
  );
}

const stackSetting = (d: RegionDeployment, key: string) =>
  d.plan.config[`freight:${key}`] ?? d.plan.config[key];
/** Billing runs where the stack turns it on (its Stripe secrets are stack secrets). */
const billingRequired = (d: RegionDeployment) => ["on", "true"].includes(stackSetting(d, "billing") ?? "");
/** The failover controller and its RegionFailover live in the one region whose stack turns failover on. */
const failoverRequired = (d: RegionDeployment) => ["on", "true"].includes(stackSetting(d, "failover") ?? "");
/** Release Jobs and scheduled work write, so they run in the active region only. */
const activeRegion = (d: RegionDeployment) => stackSetting(d, "role") === stackSetting(d, "activeRegion");

/**
 * The stacks as production runs them: the committed stack files plus billing, whose Stripe secrets
 * are stack secrets (`pulumi config set --secret`) that a committed file can only hold encrypted with
 * the stack's key. Every capability a region must run is on.
 */
export const PRODUCTION_CONFIG: Record<string, Record<string, string>> = {
  "prod-primary": {
    billing: "on",
    stripeSecretKey: "sk_test_deploycontract",
    stripeWebhookSecret: "whsec_deploycontract",
  },
  "prod-secondary": { billing: "on" },
};

// --- the table --------------------------------------------------------------------------------

export const CAPABILITIES: Capability[] = [
  {
    id: "quote-api",
    description: "the quote API answers quotes with metering on",
    testedBy: ["app/routes/quotes.test.ts", "app/metering/metering.test.ts"],
    missing: (d) =>
      satisfied(d, "quote-api", ["Deployment"], (process) => {
        const config = apiConfig(process);
        return config.METERING === "on" ? [] : ["the quote API runs with METERING=off"];
      }),
  },
  {
    id: "runner",
    description: "runners work bulk jobs and agent tasks",
    testedBy: ["app/runner/runner.test.ts", "app/runner/agent-tasks.test.ts"],
    missing: (d) => satisfied(d, "runner", ["Deployment"]),
  },
  {
    id: "runner-autoscaling",
    description: "KEDA scales the runners on queue depth, read with the runner's own database URL",
    testedBy: ["app/runner/fairness.test.ts", "stacks/stacks.test.ts"],
    missing: (d) =>
      satisfied(d, "runner", ["Deployment"], (process) => {
        const scaled = d.manifests.find(
          (m) =>
            m.kind === "ScaledObject" &&
            m.metadata.namespace === process.workload.namespace &&
            dig(m, "spec", "scaleTargetRef", "name") === process.workload.name,
        );
        if (!scaled) return [`no ScaledObject targets Deployment ${process.workload.name}`];
        const triggers =
          (dig(scaled, "spec", "triggers") as {
            metadata?: Record<string, string>;
            authenticationRef?: { name: string };
          }[]) ?? [];
        // The runner's own login: the Secret key its DATABASE_URL_FILE names.
        const own = secretMounts(process.container, process.workload.podSpec, process.where).mounts.find(
          (m) => m.variable === "DATABASE_URL_FILE",
        );
        return triggers.flatMap((t) => {
          const fromEnv = t.metadata?.["connectionFromEnv"];
          if (fromEnv && !(fromEnv in process.env))
            return [
              `ScaledObject ${scaled.metadata.name} reads ${fromEnv}, which the runner container does not set`,
            ];
          if (!t.authenticationRef) return [];
          const auth = d.manifests.find(
            (m) =>
              m.kind === "TriggerAuthentication" &&
              m.metadata.namespace === process.workload.namespace &&
              m.metadata.name === t.authenticationRef!.name,
          );
          const connection = (
            (dig(auth, "spec", "secretTargetRef") as { parameter: string; name: string; key: string }[]) ?? []
          ).find((r) => r.parameter === "connection");
          if (!connection)
            return [`TriggerAuthentication ${t.authenticationRef.name} gives KEDA no connection parameter`];
          return own && connection.name === own.secret && connection.key === own.key
            ? []
            : [
                `TriggerAuthentication ${t.authenticationRef.name} reads key ${connection.key} of Secret ${connection.name}, not the runner's own login (${own ? `${own.secret}/${own.key}` : "none mounted"})`,
              ];
        });
      }),
  },
  {
    id: "operators",
    description: "the operators' manager reconciles plans, tenants and rate limits",
    testedBy: [
      "operators/controllers/tenant/controller.test.ts",
      "operators/controllers/ratelimit/controller.test.ts",
    ],
    missing: (d) =>
      satisfied(d, "operators", ["Deployment"], (process) => {
        const problems: string[] = [];
        for (const plural of ["plans", "tenants", "ratelimitpolicies"]) {
          if (
            !d.manifests.some(
              (m) => m.kind === "CustomResourceDefinition" && m.metadata.name === `${plural}.${API_GROUP}`,
            )
          )
            problems.push(`no CRD ${plural}.${API_GROUP}`);
          else if (
            !granted(d, accountOf(process), {
              apiGroup: API_GROUP,
              resource: plural,
              verbs: ["list", "watch"],
              namespace: "",
            })
          )
            problems.push(`the operators' ServiceAccount may not list/watch ${plural}`);
        }
        return problems;
      }),
  },
  {
    id: "failover-controller",
    description:
      "the failover controller runs in the operators with the RDS and Route 53 drivers, both databases' fence security groups and an IRSA role to use them",
    testedBy: [
      "operators/controllers/failover/controller.test.ts",
      "operators/controllers/failover/drivers/aws.test.ts",
    ],
    required: failoverRequired,
    missing: (d) =>
      satisfied(d, "operators", ["Deployment"], (process) => {
        const failover = (process.parsed as { failover?: FailoverConfig }).failover;
        const problems: string[] = [];
        if (!failover)
          problems.push(
            "the operators Deployment sets no FAILOVER_* configuration (FAILOVER_PRIMARY_HEALTH_URL unset)",
          );
        else {
          if (failover.FAILOVER_DATABASE_DRIVER !== "rds")
            problems.push(`FAILOVER_DATABASE_DRIVER is ${failover.FAILOVER_DATABASE_DRIVER}, not rds`);
          if (failover.FAILOVER_TRAFFIC_DRIVER !== "routing-row+route53")
            problems.push(
              `FAILOVER_TRAFFIC_DRIVER is ${failover.FAILOVER_TRAFFIC_DRIVER}, not routing-row+route53`,
            );
          // Every unplanned flip, on-call's or automatic, fences the old primary before promoting.
          if (!failover.RDS_PRIMARY_FENCE_SECURITY_GROUP || !failover.RDS_SECONDARY_FENCE_SECURITY_GROUP)
            problems.push(
              "the operators Deployment names no RDS_*_FENCE_SECURITY_GROUP: an unplanned flip holds at Fence",
            );
        }
        const account = accountOf(process);
        const sa = d.manifests.find(
          (m) =>
            m.kind === "ServiceAccount" &&
            m.metadata.name === account.name &&
            m.metadata.namespace === account.namespace,
        );
        if (!dig(sa, "metadata", "annotations", "eks.amazonaws.com/role-arn"))
          problems.push(
            `ServiceAccount ${account.namespace}/${account.name} has no IRSA role (eks.amazonaws.com/role-arn) for RDS promotion and Route 53 changes`,
          );
        return problems;
      }),
  },
  {
    id: "failover-automatic",
    description:
      "automatic primary-loss failover: the RegionFailover's spec.automatic as the stack config says, and both regions' Route 53 health checks for the DNS signal (the fence is the failover controller's)",
    testedBy: [
      "operators/controllers/failover/decide.test.ts",
      "operators/controllers/failover/drivers/fence.test.ts",
      "operators/controllers/failover/drivers/aws.test.ts",
      "operators/controllers/failover/dns-signal.test.ts",
      "operators/controllers/failover/automatic-platform.test.ts",
      "operators/controllers/failover/partition-fence-platform.test.ts",
      "tools/gameday/gameday.test.ts",
    ],
    required: (d) => ["on", "true"].includes(stackSetting(d, "failoverAutomatic") ?? ""),
    missing: (d) => {
      const problems: string[] = [];
      const object = d.manifests.find((m) => m.kind === "RegionFailover");
      if (dig(object, "spec", "automatic", "enabled") !== true)
        problems.push("the RegionFailover's spec.automatic.enabled is not true");
      problems.push(
        ...satisfied(d, "operators", ["Deployment"], (process) => {
          const failover = (process.parsed as { failover?: FailoverConfig }).failover;
          const missing: string[] = [];
          if (!failover?.ROUTE53_PRIMARY_HEALTH_CHECK_ID || !failover.ROUTE53_SECONDARY_HEALTH_CHECK_ID)
            missing.push(
              "the operators Deployment names no ROUTE53_*_HEALTH_CHECK_ID: automatic mode has no DNS signal",
            );
          return missing;
        }),
      );
      return problems;
    },
  },
  {
    id: "region-failover-object",
    description: "on-call flips the region by editing the RegionFailover object",
    testedBy: ["operators/api/regionfailover.test.ts", "operators/controllers/failover/controller.test.ts"],
    required: failoverRequired,
    missing: (d) =>
      d.manifests.some((m) => m.kind === "RegionFailover" && m.apiVersion === PLATFORM_API_VERSION)
        ? []
        : ["no RegionFailover object"],
  },
  {
    id: "pricing-experiments",
    description:
      "the pricing controller publishes the spot PricingModel's split, steps a challenger through its rollout and rolls it back on variance against settled actuals",
    testedBy: [
      "operators/controllers/pricing/controller.test.ts",
      "operators/controllers/pricing/decide.test.ts",
      "operators/api/pricingmodel.test.ts",
    ],
    // The model lives where writes go: the controller publishes the split to that region's database.
    required: activeRegion,
    missing: (d) =>
      satisfied(d, "operators", ["Deployment"], (process) => {
        const problems: string[] = [];
        const config = (process.parsed as { operator: OperatorConfig }).operator;
        const model = d.manifests.find(
          (m) => m.kind === "PricingModel" && m.apiVersion === PLATFORM_API_VERSION,
        );
        if (!model) problems.push("no PricingModel object");
        else if (model.metadata.namespace !== config.PRICING_NAMESPACE)
          problems.push(
            `the PricingModel ${model.metadata.name} is in namespace ${model.metadata.namespace}, but the operators serve PRICING_NAMESPACE=${config.PRICING_NAMESPACE}`,
          );
        for (const [resource, verbs] of [
          ["pricingmodels", ["list", "watch"]],
          ["pricingmodels/status", ["patch"]],
        ] as const) {
          if (
            !granted(d, accountOf(process), {
              apiGroup: API_GROUP,
              resource,
              verbs: [...verbs],
              namespace: config.PRICING_NAMESPACE,
            })
          )
            problems.push(`the operators' ServiceAccount may not ${verbs.join("/")} ${resource}`);
        }
        return problems;
      }),
  },
  {
    id: "request-rate-limits",
    description:
      "the quote API enforces tenants' request rate limits and the rate calculator's per-address limit, with client addresses as the load balancer delivers them",
    testedBy: ["app/http/rate-limit.test.ts", "app/routes/rate-calculator.test.ts"],
    missing: (d) =>
      satisfied(d, "quote-api", ["Deployment"], (process) => {
        const config = apiConfig(process);
        const problems: string[] = [];
        if (config.RATE_LIMITING !== "on") problems.push("the quote API runs with RATE_LIMITING=off");
        // With no proxy hop trusted the socket address must be the client's: the NLB has to keep it.
        const service = d.manifests.find((m) => m.kind === "Service" && m.metadata.name === "quote-api");
        const annotations = (service?.metadata["annotations"] ?? {}) as Record<string, string>;
        const attributes =
          annotations["service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"] ?? "";
        if (config.TRUSTED_PROXY_HOPS === 0 && !attributes.includes("preserve_client_ip.enabled=true"))
          problems.push(
            "TRUSTED_PROXY_HOPS=0 but the quote-api Service's NLB does not preserve client addresses (preserve_client_ip.enabled=true): every caller would share one per-address bucket",
          );
        return problems;
      }),
  },
  {
    id: "region-peer-redirect",
    description: "a standby region redirects writes to the active one instead of answering 503",
    testedBy: ["app/routing/router.test.ts"],
    missing: (d) =>
      satisfied(d, "quote-api", ["Deployment"], (process) => {
        const config = apiConfig(process);
        return config.REGION_PEER_URL ? [] : ["the quote API has no REGION_PEER_URL"];
      }),
  },
  {
    id: "plan-catalogue",
    description: "a new cluster has the plan catalogue as Plan objects",
    testedBy: ["operators/controllers/tenant/controller.test.ts"],
    missing: (d) => {
      const deployed = new Set(d.manifests.filter((m) => m.kind === "Plan").map((m) => m.metadata.name));
      return DEFAULT_PLANS.filter((p) => !deployed.has(p.id)).map((p) => `no Plan object ${p.id}`);
    },
  },
  {
    id: "billing",
    description: "billing is on: Stripe checkout and webhooks, with their secrets from the secret store",
    testedBy: ["app/billing/billing.test.ts", "app/billing/startup.test.ts"],
    required: billingRequired,
    missing: (d) =>
      satisfied(d, "quote-api", ["Deployment"], (process) => {
        const config = apiConfig(process);
        return config.BILLING === "on" ? [] : ["the quote API runs with BILLING off"];
      }),
  },
  {
    id: "console",
    description:
      "the web console signs its sessions (password and Enterprise SSO sign-in) with the console-session Secret",
    testedBy: ["app/console/console.test.ts", "app/console/sso-sign-in.test.ts"],
    missing: (d) =>
      satisfied(d, "quote-api", ["Deployment"], (process) =>
        apiConfig(process).CONSOLE_SESSION_SECRET
          ? []
          : ["the quote API has no CONSOLE_SESSION_SECRET(_FILE): console sign-in answers 503"],
      ),
  },
  {
    id: "console-upgrade",
    description:
      "the console's Upgrade goes to Stripe Checkout and its portal button to the billing portal (billing on)",
    testedBy: ["app/console/upgrade.test.ts"],
    required: billingRequired,
    missing: (d) =>
      satisfied(d, "quote-api", ["Deployment"], (process) => {
        const config = apiConfig(process);
        return [
          ...(config.BILLING === "on" ? [] : ["the quote API runs with BILLING off: Upgrade answers 503"]),
          ...(config.CONSOLE_SESSION_SECRET ? [] : ["the quote API has no console sessions"]),
        ];
      }),
  },
  {
    id: "billing-tenant-writer",
    description:
      "billing patches Tenants in-cluster with the freight-billing Role bound to the API's ServiceAccount",
    testedBy: ["app/billing/billing.test.ts"],
    required: billingRequired,
    missing: (d) =>
      satisfied(d, "quote-api", ["Deployment"], (process) => {
        const config = apiConfig(process);
        const account = accountOf(process);
        const problems: string[] = [];
        if (
          !granted(d, account, {
            apiGroup: API_GROUP,
            resource: "tenants",
            verbs: ["get", "patch"],
            namespace: config.BILLING_TENANT_NAMESPACE,
          })
        )
          problems.push(
            `ServiceAccount ${account.namespace}/${account.name} may not get/patch tenants in namespace ${config.BILLING_TENANT_NAMESPACE}`,
          );
        // Declared (projected volume) or automounted, where the in-cluster loader reads it.
        const pod = process.workload.podSpec;
        const declaredAtPath = (process.container.volumeMounts ?? []).some(
          (m) => m.mountPath === SERVICE_ACCOUNT_MOUNT,
        );
        if (
          !mountsServiceAccountToken(pod) ||
          (pod.automountServiceAccountToken === false && !declaredAtPath)
        )
          problems.push(
            `${process.where} mounts no ServiceAccount token at ${SERVICE_ACCOUNT_MOUNT}, so it has no in-cluster configuration`,
          );
        return problems;
      }),
  },
  {
    id: "ops-webhook",
    description: "notify_ops tasks reach the ops webhook instead of a log line",
    testedBy: ["app/runner/agent-tasks.test.ts"],
    missing: (d) =>
      satisfied(d, "runner", ["Deployment"], (process) => {
        return (process.parsed as { OPS_WEBHOOK_URL?: string }).OPS_WEBHOOK_URL
          ? []
          : ["the runner has no OPS_WEBHOOK_URL"];
      }),
  },
  {
    id: "workflow-automation",
    description:
      "carrier invites reach workflow automation (n8n) with its key from the third-party-api-keys Secret; a rejected key turns the runner yellow",
    testedBy: ["app/runner/workflow-event.test.ts", "app/workflow/automation.test.ts"],
    missing: (d) =>
      satisfied(d, "runner", ["Deployment"], (process) => {
        const parsed = process.parsed as {
          WORKFLOW_AUTOMATION_URL?: string;
          WORKFLOW_AUTOMATION_API_KEY?: string;
        };
        return [
          ...(parsed.WORKFLOW_AUTOMATION_URL ? [] : ["the runner has no WORKFLOW_AUTOMATION_URL"]),
          ...(parsed.WORKFLOW_AUTOMATION_API_KEY
            ? []
            : [
                "the runner has no WORKFLOW_AUTOMATION_API_KEY (WORKFLOW_AUTOMATION_API_KEY_FILE from third-party-api-keys)",
              ]),
        ];
      }),
  },
  {
    id: "alertmanager-receivers",
    description: "page and ticket alerts are delivered to a webhook",
    testedBy: ["dashboards/rules.test.ts", "dashboards/prometheus.test.ts"],
    missing: (d) => {
      const values = helmValues(d.plan, "kube-prometheus-stack");
      // The configuration holds the webhook's token, so it may arrive rendered by an ExternalSecret
      // into the Secret the chart's Alertmanager reads (alertmanager.useExistingSecret).
      const rendered = d.manifests
        .filter((m) => m.kind === "ExternalSecret")
        .map((m) => dig(m, "spec", "target", "template", "data", "alertmanager.yaml"))
        .find((text): text is string => typeof text === "string");
      const config = (
        rendered
          ? parseYaml(rendered.replace(/\{\{[^}]*\}\}/g, "https://webhook.invalid/"))
          : dig(values, "alertmanager", "config")
      ) as { receivers?: { name: string; webhook_configs?: unknown[] }[]; route?: unknown } | undefined;
      const fromValues = (config?.receivers ?? [])
        .filter((r) => r.webhook_configs?.length)
        .map((r) => r.name);
      const fromObjects = d.manifests
        .filter((m) => m.kind === "AlertmanagerConfig")
        .flatMap((m) => (dig(m, "spec", "receivers") as { name: string; webhookConfigs?: unknown[] }[]) ?? [])
        .filter((r) => r.webhookConfigs?.length)
        .map((r) => r.name);
      const routes = JSON.stringify([
        config?.route ?? null,
        ...d.manifests.filter((m) => m.kind === "AlertmanagerConfig").map((m) => dig(m, "spec", "route")),
      ]);
      const problems: string[] = [];
      if (fromValues.length + fromObjects.length === 0)
        problems.push(
          "Alertmanager has no webhook receiver (kube-prometheus-stack alertmanager.config or an AlertmanagerConfig)",
        );
      for (const severity of ["page", "ticket"])
        if (!routes.includes(severity)) problems.push(`no Alertmanager route matches severity=${severity}`);
      return problems;
    },
  },
  {
    id: "usage-warnings-schedule",
    description: "tenants crossing 80/90/100 % of a meter are warned nightly",
    testedBy: ["app/ops/usage-warnings.test.ts"],
    required: activeRegion,
    missing: (d) => scheduled(d, "usage-warnings"),
  },
  {
    id: "billing-reconcile-schedule",
    description: "overage reported to Stripe is reconciled on a schedule",
    testedBy: ["app/billing/billing.test.ts"],
    required: (d) => billingRequired(d) && activeRegion(d),
    missing: (d) => scheduled(d, "billing-reconcile"),
  },
  {
    id: "onboarding-nudge-schedule",
    description: "a tenant without a quote 24 h after signup gets one nudge, found hourly",
    testedBy: ["app/onboarding/onboarding.test.ts"],
    required: activeRegion,
    missing: (d) => scheduled(d, "onboarding-nudges"),
  },
  {
    id: "lead-signal-schedule",
    description:
      "tenants crossing 3 quotes or 2 bulk jobs in 72 h reach the CRM once per window, found every 10 minutes",
    testedBy: ["app/growth/lead-signals.test.ts"],
    required: activeRegion,
    missing: (d) => scheduled(d, "lead-signals"),
  },
  {
    id: "nps-invitation-schedule",
    description:
      "tenants at trial day 21 and paid day 90 get one NPS survey per milestone, found hourly; detractors open a save playbook",
    testedBy: ["app/growth/nps.test.ts", "tools/platform/growth-jobs.test.ts"],
    required: activeRegion,
    missing: (d) => scheduled(d, "nps-invitations"),
  },
  {
    id: "carrier-compliance-schedule",
    description:
      "carriers are reminded 30, 7 and 1 days before a compliance document expires and tenants told when one lapses, daily",
    testedBy: ["app/growth/carrier-compliance.test.ts", "tools/platform/growth-jobs.test.ts"],
    required: activeRegion,
    missing: (d) => scheduled(d, "carrier-compliance"),
  },
  {
    id: "dsr-drill-schedule",
    description:
      "the data subject request drill runs monthly through the runner and reports on-time rate and completeness",
    testedBy: ["app/compliance/dsr-cli.test.ts"],
    required: activeRegion,
    missing: (d) => scheduled(d, "dsr"),
  },
  {
    id: "trial-expiry-schedule",
    description:
      "ended trials move to their billing state on a schedule, writing Tenants as an account bound to billing's Role",
    testedBy: ["app/billing/trial.test.ts"],
    required: (d) => billingRequired(d) && activeRegion(d),
    missing: (d) =>
      satisfied(d, "trial-expiry", ["CronJob"], (p) => [
        ...(p.workload.schedule ? [] : [`${p.where} has no schedule`]),
        ...inClusterAccess(d, p, {
          apiGroup: API_GROUP,
          resource: "tenants",
          verbs: ["get", "patch"],
          namespace: (p.parsed as { BILLING_TENANT_NAMESPACE: string }).BILLING_TENANT_NAMESPACE,
        }),
      ]),
  },
  {
    id: "pricing-model-split",
    description:
      "quotes and bulk lanes are priced with the tenant's PricingModel version, and a weight change or rollback reaches every replica within seconds",
    testedBy: ["app/pricing/pricing-splits.test.ts", "app/pricing/quote-pricing.test.ts"],
    missing: (d) => [
      ...satisfied(d, "quote-api", ["Deployment"], (p) =>
        apiConfig(p).PRICING_MODEL ? [] : [`${p.where} names no PRICING_MODEL`],
      ),
      ...satisfied(d, "runner", ["Deployment"], (p) =>
        (p.parsed as { PRICING_MODEL?: string }).PRICING_MODEL ? [] : [`${p.where} names no PRICING_MODEL`],
      ),
    ],
  },
  {
    id: "pricing-backtest-schedule",
    description:
      "every PricingModel's challenger (or champion) is backtested weekly against settled actuals, reading the model as an account that may only get/list PricingModels",
    testedBy: ["app/ops/pricing-backtest.test.ts", "tools/platform/pricing-backtest-job.test.ts"],
    required: activeRegion,
    missing: (d) =>
      satisfied(d, "pricing-backtest", ["CronJob"], (p) => [
        ...(p.workload.schedule ? [] : [`${p.where} has no schedule`]),
        ...inClusterAccess(d, p, {
          apiGroup: API_GROUP,
          resource: "pricingmodels",
          verbs: ["get", "list"],
          namespace: (p.parsed as { PRICING_MODEL_NAMESPACE: string }).PRICING_MODEL_NAMESPACE,
        }),
      ]),
  },
  {
    id: "exec-report-schedule",
    description: "the executive report is produced weekly",
    testedBy: ["dashboards/report/report.test.ts"],
    required: activeRegion,
    missing: (d) => scheduled(d, "exec-report"),
  },
  {
    id: "migrations-before-traffic",
    description: "migrations run as a Job before the new app version takes traffic",
    testedBy: ["app/routes/health.test.ts", "app/ops/rls-probe.test.ts"],
    required: activeRegion,
    missing: (d) =>
      satisfied(d, "migrations", ["Job"], (job) => {
        const jobUrn = urnOf(d, "Job", job.workload.name, job.workload.namespace);
        const apis = running(d, "quote-api", ["Deployment"]);
        if (apis.length === 0) return ["no quote API Deployment to run the migrations before"];
        return apis
          .filter(
            (api) => !dependsOn(d, urnOf(d, "Deployment", api.workload.name, api.workload.namespace), jobUrn),
          )
          .map(
            (api) => `Deployment ${api.workload.name} does not wait for Job ${job.workload.name} (dependsOn)`,
          );
      }),
  },
  {
    id: "rls-probe-after-deploy",
    description: "the tenant-isolation probe runs after each deploy and fails it on a finding",
    testedBy: ["app/ops/rls-probe.test.ts"],
    required: activeRegion,
    missing: (d) =>
      satisfied(d, "rls-probe", ["Job"], (job) => {
        const jobUrn = urnOf(d, "Job", job.workload.name, job.workload.namespace);
        const apis = running(d, "quote-api", ["Deployment"]);
        if (apis.length === 0) return ["no quote API Deployment for the probe to run after"];
        return apis
          .filter(
            (api) => !dependsOn(d, jobUrn, urnOf(d, "Deployment", api.workload.name, api.workload.namespace)),
          )
          .map(
            (api) =>
              `Job ${job.workload.name} does not run after Deployment ${api.workload.name} (dependsOn)`,
          );
      }),
  },
  {
    id: "grafana-postgres-datasource",
    description: "Grafana's business panels read the analytics replica through a PostgreSQL datasource",
    testedBy: ["dashboards/business.test.ts"],
    missing: (d) => {
      const values = helmValues(d.plan, "kube-prometheus-stack");
      const sources = [
        ...((dig(values, "grafana", "additionalDataSources") as { type?: string }[] | undefined) ?? []),
        ...d.manifests
          .filter(
            (m) => m.kind === "ConfigMap" && dig(m, "metadata", "labels", "grafana_datasource") !== undefined,
          )
          .map((m) => ({ type: JSON.stringify(m["data"] ?? {}) })),
        // A datasource file with the login's password, rendered by an ExternalSecret for the sidecar.
        ...d.manifests
          .filter(
            (m) =>
              m.kind === "ExternalSecret" &&
              dig(m, "spec", "target", "template", "metadata", "labels", "grafana_datasource") !== undefined,
          )
          .map((m) => ({ type: JSON.stringify(dig(m, "spec", "target", "template", "data") ?? {}) })),
      ];
      return sources.some((s) => /postgres/.test(s.type ?? ""))
        ? []
        : [
            "Grafana has no PostgreSQL datasource (kube-prometheus-stack grafana.additionalDataSources or a grafana_datasource ConfigMap)",
          ];
    },
  },
  {
    id: "secret-rotation-dates",
    description: "the secret rotation alerts see when each secret was last rotated",
    testedBy: ["app/routes/health.test.ts", "dashboards/metrics-crosscheck.test.ts"],
    missing: (d) =>
      satisfied(d, "quote-api", ["Deployment"], (process) => {
        const config = apiConfig(process);
        return config.SECRETS_ROTATION_WATCH || config.SECRETS_LAST_ROTATED
          ? []
          : [
              "the quote API has neither SECRETS_ROTATION_WATCH (dates from Secrets Manager) nor SECRETS_LAST_ROTATED",
            ];
      }),
  },
  {
    id: "metrics-scraping",
    description: "Prometheus scrapes the API, the runners and the operators",
    testedBy: ["dashboards/metrics-crosscheck.test.ts"],
    missing: (d) => {
      const problems: string[] = [];
      for (const id of ["quote-api", "runner", "operators"]) {
        const instances = running(d, id, ["Deployment"]);
        if (instances.length === 0) problems.push(`no Deployment starts the ${id} process`);
        for (const p of instances) {
          const monitor = d.manifests.find((m) => {
            if (m.kind !== "PodMonitor" || m.metadata.namespace !== p.workload.namespace) return false;
            const selector =
              (dig(m, "spec", "selector", "matchLabels") as Record<string, string> | undefined) ?? {};
            return Object.entries(selector).every(([k, v]) => p.workload.podLabels[k] === v);
          });
          if (!monitor) {
            problems.push(`no PodMonitor selects the pods of ${p.where}`);
            continue;
          }
          const ports = ((dig(monitor, "spec", "podMetricsEndpoints") as { port?: string }[]) ?? []).map(
            (e) => e.port,
          );
          for (const port of ports)
            if (!p.container.ports?.some((cp) => cp.name === port))
              problems.push(
                `PodMonitor ${monitor.metadata.name} scrapes port ${port}, which ${p.where} does not name`,
              );
        }
      }
      return problems;
    },
  },
  {
    id: "slo-alerts",
    description: "SLO burn-rate alerts are loaded into Prometheus",
    testedBy: ["dashboards/rules.test.ts", "dashboards/prometheus.test.ts"],
    missing: (d) =>
      d.manifests.some(
        (m) => m.kind === "PrometheusRule" && ((dig(m, "spec", "groups") as unknown[]) ?? []).length > 0,
      )
        ? []
        : ["no PrometheusRule with rule groups"],
  },
  {
    id: "network-isolation",
    description:
      "every pod runs under a default-deny NetworkPolicy, with only the flows of infra/workloads/network-flows.ts allowed",
    testedBy: ["infra/workloads/network-flows.test.ts", "policies/rules/network-policies.test.ts"],
    missing: (d) => {
      const denied = new Set(
        d.manifests
          .filter(
            (m) =>
              m.kind === "NetworkPolicy" &&
              Object.keys((dig(m, "spec", "podSelector") as object | undefined) ?? { none: true }).length ===
                0 &&
              ["Ingress", "Egress"].every((t) =>
                ((dig(m, "spec", "policyTypes") as string[]) ?? []).includes(t),
              ) &&
              !dig(m, "spec", "ingress") &&
              !dig(m, "spec", "egress"),
          )
          .map((m) => m.metadata.namespace),
      );
      const namespaces = new Set(d.processes.map((p) => p.workload.namespace));
      return [...namespaces]
        .filter((ns) => !denied.has(ns))
        .map(
          (ns) => `namespace ${ns} runs pods but has no default-deny NetworkPolicy for ingress and egress`,
        );
    },
  },
];
