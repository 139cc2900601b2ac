// The one description of what may talk to what in a region's cluster: every network flow the
// platform's workloads need, as a typed table. Every namespace whose workloads the stacks declare is
// default-deny for ingress and egress (network-policies.ts generates the NetworkPolicies from this
// table), so a flow missing here is a connection refused in production. To add a flow, add a row.
// NetworkPolicies cannot name DNS names, so services outside the VPC (AWS APIs, Stripe, the LLM
// provider, mail) are one destination, the internet on the row's ports; the rows still say which.
import { APP_PORT, API_LABELS } from "./quote-api.ts";
import { BATCH_WORKLOADS, batchLabels } from "./batch.ts";
import { APP_NAMESPACE } from "./namespaces.ts";
import { OPERATOR_LABELS, OPERATORS_PORT } from "./operators.ts";
import { RUNNER_LABELS, RUNNER_PORT } from "./runner.ts";

/** The platform's own workloads, each a set of pods in one namespace. */
export type PlatformWorkload =
  | "quote-api"
  | "runner"
  | "operators"
  | "migrate"
  | "rls-probe"
  | "usage-warnings"
  | "exec-report"
  | "billing-reconcile"
  | "onboarding-nudges"
  | "lead-signals"
  | "nps-invitations"
  | "carrier-compliance"
  | "dsr-drill"
  | "trial-expiry"
  | "evidence"
  | "pricing-backtest";

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
  }[];
}

export interface WorkloadPods {
  namespace: string;
  podSelector: LabelSelector;
}

/** Where each workload's pods run and the labels that select them (the labels their components set). */
export function platformWorkloads(operatorsNamespace: string): Record<PlatformWorkload, WorkloadPods> {
  const app = (matchLabels: Record<string, string>) => ({
    namespace: APP_NAMESPACE,
    podSelector: { matchLabels },
  });
  return {
    "quote-api": app(API_LABELS),
    runner: app(RUNNER_LABELS),
    operators: { namespace: operatorsNamespace, podSelector: { matchLabels: OPERATOR_LABELS } },
    migrate: app(batchLabels(BATCH_WORKLOADS.migrate)),
    "rls-probe": app(batchLabels(BATCH_WORKLOADS.isolationProbe)),
    "usage-warnings": app(batchLabels(BATCH_WORKLOADS.usageWarnings)),
    "exec-report": app(batchLabels(BATCH_WORKLOADS.execReport)),
    "onboarding-nudges": app(batchLabels(BATCH_WORKLOADS.onboardingNudges)),
    "lead-signals": app(batchLabels(BATCH_WORKLOADS.leadSignals)),
    "nps-invitations": app(batchLabels(BATCH_WORKLOADS.npsInvitations)),
    "carrier-compliance": app(batchLabels(BATCH_WORKLOADS.carrierCompliance)),
    "dsr-drill": app(batchLabels(BATCH_WORKLOADS.dsrDrill)),
    "trial-expiry": app(batchLabels(BATCH_WORKLOADS.trialExpiry)),
    evidence: app(batchLabels(BATCH_WORKLOADS.evidence)),
    "pricing-backtest": app(batchLabels(BATCH_WORKLOADS.pricingBacktest)),
    "billing-reconcile": {
      namespace: APP_NAMESPACE,
      podSelector: {
        matchLabels: { "app.kubernetes.io/part-of": "freight" },
        matchExpressions: [
          {
            key: "app.kubernetes.io/name",
            operator: "In",
            values: [BATCH_WORKLOADS.billingReconcileDaily, BATCH_WORKLOADS.billingReconcileMonthly],
          },
        ],
      },
    },
  };
}

/** A party outside the platform's namespaces. */
export type OutsidePeer =
  /** The API's network load balancer (target type ip): its addresses are in the public subnets. */
  | "load-balancer"
  /** The monitoring stack's Prometheus pods (kube-prometheus-stack, namespace monitoring). */
  | "prometheus"
  /** The monitoring stack's Alertmanager pods: they post alert notifications to the API's receiver. */
  | "alertmanager"
  /** The cluster DNS (CoreDNS in kube-system). */
  | "cluster-dns"
  /** The region's RDS instances (writer, analytics replica), in the private subnets. */
  | "region-databases"
  /**
   * The other region's database. Its VPC block is not a stack output, so this is the private range
   * both VPCs are carved from (10.0.0.0/8), on the database port only.
   */
  | "peer-region-database"
  /** The EKS API server: its private endpoint's network interfaces live in the private subnets. */
  | "kubernetes-api"
  /** Anything outside the VPC and not private or link-local (so never the instance metadata service). */
  | "internet";

export type Side = { workloads: PlatformWorkload[] } | { outside: OutsidePeer };

export interface Port {
  port: number;
  protocol: "TCP" | "UDP";
}

/** Which capabilities the region runs: a flow of a workload or capability the region lacks is left out. */
export interface FlowContext {
  /** Billing on: Stripe, Tenant writes by the API, billing mail, the reconciliation CronJobs. */
  billing: boolean;
  /** The failover controller runs in this region's operators. */
  failover: boolean;
  /** The active region: the release Jobs and the scheduled work run here. */
  active: boolean;
  /** The read canary: the API reads a share of reads from the other region's database. */
  readCanary?: boolean;
}

export interface Flow {
  /** kebab-case; names the flow in the generated policies' annotations and in test failures. */
  name: string;
  from: Side;
  to: Side;
  ports: Port[];
  /** What breaks without it, for a reviewer. */
  why: string;
  when?: (context: FlowContext) => boolean;
}

const tcp = (...ports: number[]): Port[] => ports.map((port) => ({ port, protocol: "TCP" }));
export const DATABASE_PORT = 5432;
export const HTTPS_PORT = 443;
export const PROMETHEUS_PORT = 9090;
/** Submission and implicit TLS: SMTP_URL (a secret) must use one of them. */
export const SMTP_PORTS = [587, 465];

const BATCH: PlatformWorkload[] = [
  "migrate",
  "rls-probe",
  "usage-warnings",
  "exec-report",
  "billing-reconcile",
  "onboarding-nudges",
  "lead-signals",
  "nps-invitations",
  "carrier-compliance",
  "trial-expiry",
  "evidence",
  "dsr-drill",
  "pricing-backtest",
];
export const ALL_WORKLOADS: PlatformWorkload[] = ["quote-api", "runner", "operators", ...BATCH];
const active = (c: FlowContext) => c.active;

/** Every flow the platform needs. The generated policies allow exactly these, nothing else. */
export const NETWORK_FLOWS: Flow[] = [
  {
    name: "clients-to-api",
    from: { outside: "load-balancer" },
    to: { workloads: ["quote-api"] },
    ports: tcp(APP_PORT),
    why: "clients reach the quote API through its network load balancer, and its health checks",
  },
  {
    name: "scrape-api",
    from: { outside: "prometheus" },
    to: { workloads: ["quote-api"] },
    ports: tcp(APP_PORT),
    why: "the SLO alerts and dashboards read the API's /metrics",
  },
  {
    name: "alerts-to-api",
    from: { outside: "alertmanager" },
    to: { workloads: ["quote-api"] },
    ports: tcp(APP_PORT),
    why: "firing and resolved alert groups open and resolve support tickets (/webhooks/alertmanager)",
  },
  {
    name: "scrape-runner",
    from: { outside: "prometheus" },
    to: { workloads: ["runner"] },
    ports: tcp(RUNNER_PORT),
    why: "queue depth and runner state come from the runner's /metrics",
  },
  {
    name: "scrape-operators",
    from: { outside: "prometheus" },
    to: { workloads: ["operators"] },
    ports: tcp(OPERATORS_PORT),
    why: "the controllers' metrics are served on their probe port",
  },
  {
    name: "dns",
    from: { workloads: ALL_WORKLOADS },
    to: { outside: "cluster-dns" },
    ports: [
      { port: 53, protocol: "UDP" },
      { port: 53, protocol: "TCP" },
    ],
    why: "every process resolves the database, AWS and Stripe host names",
  },
  {
    name: "database",
    from: { workloads: ALL_WORKLOADS },
    to: { outside: "region-databases" },
    ports: tcp(DATABASE_PORT),
    why: "PostgreSQL is every process's system of record, each with its own login",
  },
  {
    name: "failover-peer-database",
    from: { workloads: ["operators"] },
    to: { outside: "peer-region-database" },
    ports: tcp(DATABASE_PORT),
    why: "the failover controller reads both regions' WAL positions before promoting",
    when: (c) => c.failover,
  },
  {
    name: "api-read-canary",
    from: { workloads: ["quote-api"] },
    to: { outside: "peer-region-database" },
    ports: tcp(DATABASE_PORT),
    why: "the read canary answers a share of lag-tolerant reads from the other region's replica",
    when: (c) => c.readCanary === true,
  },
  {
    name: "api-aws",
    from: { workloads: ["quote-api"] },
    to: { outside: "internet" },
    ports: tcp(HTTPS_PORT),
    why: "STS (IRSA), the documents bucket (S3) and the secrets' rotation dates (Secrets Manager)",
  },
  {
    name: "api-stripe",
    from: { workloads: ["quote-api"] },
    to: { outside: "internet" },
    ports: tcp(HTTPS_PORT),
    why: "checkout and portal sessions, subscriptions and meter events (api.stripe.com)",
    when: (c) => c.billing,
  },
  {
    name: "api-tenant-writes",
    from: { workloads: ["quote-api"] },
    to: { outside: "kubernetes-api" },
    ports: tcp(HTTPS_PORT),
    why: "signup creates Tenant resources; billing applies plan changes to them",
  },
  {
    name: "runner-outbound",
    from: { workloads: ["runner"] },
    to: { outside: "internet" },
    ports: tcp(HTTPS_PORT),
    why: "STS and S3 (documents), the LLM provider (LLM_BASE_URL, https on 443 by the stack config check) and workflow automation APIs, the ops webhook",
  },
  {
    name: "runner-mail",
    from: { workloads: ["runner"] },
    to: { outside: "internet" },
    ports: tcp(...SMTP_PORTS),
    why: "signup verification links, tenant notices and billing notices by email (SMTP_URL)",
  },
  {
    name: "operators-kubernetes-api",
    from: { workloads: ["operators"] },
    to: { outside: "kubernetes-api" },
    ports: tcp(HTTPS_PORT),
    why: "the controllers watch and write their custom resources and hold the leader Lease",
  },
  {
    name: "failover-drivers",
    from: { workloads: ["operators"] },
    to: { outside: "internet" },
    ports: tcp(HTTPS_PORT),
    why: "STS, RDS (promote the replica), Route 53 (the API's weights, the health checks' status) and both regions' public /readyz",
    when: (c) => c.failover,
  },
  {
    name: "exec-report-prometheus",
    from: { workloads: ["exec-report"] },
    to: { outside: "prometheus" },
    ports: tcp(PROMETHEUS_PORT),
    why: "the weekly executive report reads its SLO figures from Prometheus",
    when: active,
  },
  {
    name: "trial-expiry-stripe",
    from: { workloads: ["trial-expiry"] },
    to: { outside: "internet" },
    ports: tcp(HTTPS_PORT),
    why: "an ended trial's subscription state is read from Stripe (api.stripe.com)",
    when: (c) => c.active && c.billing,
  },
  {
    name: "trial-expiry-kubernetes-api",
    from: { workloads: ["trial-expiry"] },
    to: { outside: "kubernetes-api" },
    ports: tcp(HTTPS_PORT),
    why: "an ended trial moves its Tenant to the free plan or checkout, as dunning does",
    when: (c) => c.active && c.billing,
  },
  {
    name: "lead-signals-crm",
    from: { workloads: ["lead-signals"] },
    to: { outside: "internet" },
    ports: tcp(HTTPS_PORT),
    why: "lead signals are delivered to the CRM webhook (CRM_WEBHOOK_URL, https)",
    when: active,
  },
  {
    name: "pricing-backtest-kubernetes-api",
    from: { workloads: ["pricing-backtest"] },
    to: { outside: "kubernetes-api" },
    ports: tcp(HTTPS_PORT),
    why: "the weekly pricing backtest reads the versions it replays from the PricingModel objects",
    when: active,
  },
  {
    name: "evidence-kubernetes-api",
    from: { workloads: ["evidence"] },
    to: { outside: "kubernetes-api" },
    ports: tcp(HTTPS_PORT),
    why: "the weekly evidence lists the RBAC bindings actually granted in the cluster",
    when: active,
  },
  {
    name: "evidence-aws",
    from: { workloads: ["evidence"] },
    to: { outside: "internet" },
    ports: tcp(HTTPS_PORT),
    why: "STS (IRSA), the secrets' rotation dates (Secrets Manager DescribeSecret) and CI's published SBOM and OSV report (S3) for the weekly evidence",
    when: active,
  },
  {
    name: "billing-reconcile-stripe",
    from: { workloads: ["billing-reconcile"] },
    to: { outside: "internet" },
    ports: tcp(HTTPS_PORT),
    why: "reconciliation reads Stripe's meter event summaries",
    when: (c) => c.active && c.billing,
  },
];

/** Workloads a region runs: the release Jobs and scheduled work only where writes go, billing's only with billing. */
export function workloadRuns(workload: PlatformWorkload, context: FlowContext): boolean {
  if (workload === "billing-reconcile" || workload === "trial-expiry")
    return context.active && context.billing;
  return BATCH.includes(workload) ? context.active : true;
}
