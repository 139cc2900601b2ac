// The intended flows as data: connections a security reviewer would ask about, each with the verdict
// it must get, evaluated by cyclonus's network-policy matcher (tools/netpol) against the
// NetworkPolicies the region stacks plan as production runs them. Pods are taken from the planned
// workloads (their namespace and pod labels), so a label changed in a component without its flow
// breaks a row here. Addresses follow the committed stacks: primary VPC 10.20.0.0/16, secondary
// 10.30.0.0/16, public subnets the first /20s, private subnets from .128.0/20 on.
import { beforeAll, describe, expect, it } from "vitest";

import type { Manifest } from "../../stacks/manifests.ts";
import type { Region } from "../../operators/api/regionfailover.ts";
import { regionManifests } from "../../tools/platform/stack-manifests.ts";
import {
  verdicts,
  type Connection,
  type DirectionVerdict,
  type Endpoint,
  type Verdict,
} from "../../tools/netpol/verdicts.ts";
import { FLOWS_ANNOTATION, networkPolicyManifests } from "./network-policies.ts";
import { NETWORK_FLOWS } from "./network-flows.ts";

type PodName =
  | "quote-api"
  | "runner"
  | "freight-operators"
  | "migrate"
  | "rls-probe"
  | "usage-warnings"
  | "exec-report"
  | "billing-reconcile-daily"
  | "onboarding-nudges"
  | "lead-signals"
  | "nps-invitations"
  | "carrier-compliance"
  | "trial-expiry"
  | "evidence"
  | "pricing-backtest";

/** Pods that are not the platform's: the monitoring stack's, CoreDNS, and strangers. */
const OTHER_PODS = {
  prometheus: { namespace: "monitoring", labels: { "app.kubernetes.io/name": "prometheus" } },
  grafana: { namespace: "monitoring", labels: { "app.kubernetes.io/name": "grafana" } },
  alertmanager: { namespace: "monitoring", labels: { "app.kubernetes.io/name": "alertmanager" } },
  "kube-dns": { namespace: "kube-system", labels: { "k8s-app": "kube-dns" } },
  "keda-operator": { namespace: "keda", labels: { app: "keda-operator" } },
  "pod-in-default": { namespace: "default", labels: { app: "debug" } },
  "pod-in-tenants": { namespace: "tenants", labels: { app: "debug" } },
};
type OtherPod = keyof typeof OTHER_PODS;

/** Addresses outside the cluster, per region (`x` is the region's second octet: 20 or 30). */
const ADDRESSES = {
  "load-balancer": (x: number) => `10.${x}.16.25`,
  "internet-client": () => "203.0.113.9",
  database: (x: number) => `10.${x}.140.12`,
  "peer-database": (x: number) => `10.${x === 20 ? 30 : 20}.140.12`,
  "kubernetes-api": (x: number) => `10.${x}.150.4`,
  "metadata-service": () => "169.254.169.254",
  "stripe-api": () => "54.187.174.169",
  "aws-api": () => "52.94.236.248",
  "mail-server": () => "198.51.100.25",
  "crm-webhook": () => "198.51.100.80",
};
type Address = keyof typeof ADDRESSES;
type Party = PodName | OtherPod | Address;

interface Row {
  from: Party;
  to: Party;
  port: number;
  protocol?: "UDP";
  allowed: boolean;
  /** Regions the row holds in (both by default): a pod that runs in one region only, or a flow only one has. */
  regions?: Region[];
  /** For allowed rows: the flow of network-flows.ts it exercises. */
  flow?: string;
  why: string;
}

const ACTIVE: Region[] = ["primary"];

// One connection a line: easier to review as a table than as prettier would fold it.
// prettier-ignore
const TABLE: Row[] = [
  // What the platform needs.
  { from: "load-balancer", to: "quote-api", port: 8080, allowed: true, flow: "clients-to-api", why: "clients, through the NLB" },
  { from: "prometheus", to: "quote-api", port: 8080, allowed: true, flow: "scrape-api", why: "API metrics" },
  { from: "prometheus", to: "runner", port: 8080, allowed: true, flow: "scrape-runner", why: "runner metrics" },
  { from: "alertmanager", to: "quote-api", port: 8080, allowed: true, flow: "alerts-to-api", why: "alert groups open support tickets" },
  { from: "alertmanager", to: "runner", port: 8080, allowed: false, why: "Alertmanager talks only to the API's receiver" },
  { from: "prometheus", to: "freight-operators", port: 8081, allowed: true, flow: "scrape-operators", why: "controller metrics" },
  { from: "quote-api", to: "kube-dns", port: 53, protocol: "UDP", allowed: true, flow: "dns", why: "name lookups" },
  { from: "freight-operators", to: "kube-dns", port: 53, allowed: true, flow: "dns", why: "lookups over TCP" },
  { from: "quote-api", to: "database", port: 5432, allowed: true, flow: "database", why: "freight_app" },
  { from: "runner", to: "database", port: 5432, allowed: true, flow: "database", why: "freight_runner" },
  { from: "freight-operators", to: "database", port: 5432, allowed: true, flow: "database", why: "freight_operator" },
  { from: "migrate", to: "database", port: 5432, allowed: true, regions: ACTIVE, flow: "database", why: "the release migration" },
  { from: "rls-probe", to: "database", port: 5432, allowed: true, regions: ACTIVE, flow: "database", why: "the isolation probe" },
  { from: "usage-warnings", to: "database", port: 5432, allowed: true, regions: ACTIVE, flow: "database", why: "nightly warnings" },
  { from: "exec-report", to: "prometheus", port: 9090, allowed: true, regions: ACTIVE, flow: "exec-report-prometheus", why: "SLO figures" },
  { from: "billing-reconcile-daily", to: "stripe-api", port: 443, allowed: true, regions: ACTIVE, flow: "billing-reconcile-stripe", why: "meter summaries" },
  { from: "onboarding-nudges", to: "database", port: 5432, allowed: true, regions: ACTIVE, flow: "database", why: "the hourly nudge" },
  { from: "lead-signals", to: "database", port: 5432, allowed: true, regions: ACTIVE, flow: "database", why: "the lead-signal query and its outbox" },
  { from: "lead-signals", to: "crm-webhook", port: 443, allowed: true, regions: ACTIVE, flow: "lead-signals-crm", why: "lead signals go to the CRM webhook" },
  { from: "lead-signals", to: "kubernetes-api", port: 443, allowed: false, regions: ACTIVE, why: "the lead-signal job never calls the Kubernetes API" },
  { from: "nps-invitations", to: "database", port: 5432, allowed: true, regions: ACTIVE, flow: "database", why: "the milestone query, surveys and their emails' tasks" },
  { from: "nps-invitations", to: "crm-webhook", port: 443, allowed: false, regions: ACTIVE, why: "the runner sends the emails; the job only writes rows" },
  { from: "nps-invitations", to: "kubernetes-api", port: 443, allowed: false, regions: ACTIVE, why: "the NPS job never calls the Kubernetes API" },
  { from: "carrier-compliance", to: "database", port: 5432, allowed: true, regions: ACTIVE, flow: "database", why: "freshness, reminders and their emails' tasks" },
  { from: "carrier-compliance", to: "mail-server", port: 587, allowed: false, regions: ACTIVE, why: "the runner sends the reminders; the job only writes rows" },
  { from: "trial-expiry", to: "stripe-api", port: 443, allowed: true, regions: ACTIVE, flow: "trial-expiry-stripe", why: "an ended trial's subscription" },
  { from: "trial-expiry", to: "kubernetes-api", port: 443, allowed: true, regions: ACTIVE, flow: "trial-expiry-kubernetes-api", why: "moves the Tenant's plan" },
  { from: "evidence", to: "database", port: 5432, allowed: true, regions: ACTIVE, flow: "database", why: "stores the snapshot, probes isolation" },
  { from: "evidence", to: "kubernetes-api", port: 443, allowed: true, regions: ACTIVE, flow: "evidence-kubernetes-api", why: "the RBAC bindings granted" },
  { from: "evidence", to: "aws-api", port: 443, allowed: true, regions: ACTIVE, flow: "evidence-aws", why: "STS, the secrets' rotation dates" },
  { from: "quote-api", to: "aws-api", port: 443, allowed: true, flow: "api-aws", why: "STS, S3, Secrets Manager" },
  { from: "quote-api", to: "stripe-api", port: 443, allowed: true, flow: "api-stripe", why: "billing is on in both regions" },
  { from: "quote-api", to: "kubernetes-api", port: 443, allowed: true, flow: "api-tenant-writes", why: "signup's Tenants, plan writes" },
  { from: "quote-api", to: "peer-database", port: 5432, allowed: true, flow: "api-read-canary", why: "the read canary reads the other region's replica (freight:readCanary on)" },
  { from: "runner", to: "aws-api", port: 443, allowed: true, flow: "runner-outbound", why: "S3, LLM provider, ops webhook" },
  { from: "runner", to: "mail-server", port: 587, allowed: true, flow: "runner-mail", why: "verification links, tenant and billing notices" },
  { from: "freight-operators", to: "kubernetes-api", port: 443, allowed: true, flow: "operators-kubernetes-api", why: "watches, Lease" },
  { from: "freight-operators", to: "peer-database", port: 5432, allowed: true, regions: ["secondary"], flow: "failover-peer-database", why: "the failover controller reads both WAL positions" },
  { from: "freight-operators", to: "aws-api", port: 443, allowed: true, regions: ["secondary"], flow: "failover-drivers", why: "RDS promotion, Route 53 weights" },

  // What a security reviewer wants refused.
  { from: "runner", to: "freight-operators", port: 8081, allowed: false, why: "a compromised runner must not reach the operators' probe port" },
  { from: "runner", to: "quote-api", port: 8080, allowed: false, why: "no pod-to-pod traffic the platform does not use" },
  { from: "quote-api", to: "runner", port: 8080, allowed: false, why: "nor the other way" },
  { from: "pod-in-default", to: "quote-api", port: 8080, allowed: false, why: "another namespace's pods" },
  { from: "keda-operator", to: "runner", port: 8080, allowed: false, why: "another namespace's pods, even a platform chart's" },
  { from: "grafana", to: "freight-operators", port: 8081, allowed: false, why: "only Prometheus scrapes" },
  { from: "internet-client", to: "quote-api", port: 8080, allowed: false, why: "clients come through the load balancer only" },
  { from: "load-balancer", to: "runner", port: 8080, allowed: false, why: "the load balancer serves the API only" },
  { from: "runner", to: "pod-in-default", port: 8080, allowed: false, why: "no egress to other namespaces' pods" },
  { from: "runner", to: "metadata-service", port: 80, allowed: false, why: "instance credentials: pods use IRSA" },
  { from: "quote-api", to: "metadata-service", port: 80, allowed: false, why: "instance credentials: pods use IRSA" },
  { from: "freight-operators", to: "metadata-service", port: 80, allowed: false, why: "instance credentials: pods use IRSA" },
  { from: "runner", to: "kubernetes-api", port: 443, allowed: false, why: "the runner never calls Kubernetes" },
  { from: "runner", to: "aws-api", port: 22, allowed: false, why: "no SSH out" },
  { from: "runner", to: "aws-api", port: 80, allowed: false, why: "no plain HTTP out" },
  { from: "quote-api", to: "mail-server", port: 587, allowed: false, why: "only the runner sends mail" },
  { from: "runner", to: "peer-database", port: 5432, allowed: false, why: "only the API's read canary and the failover controller reach the other region's database" },
  { from: "freight-operators", to: "peer-database", port: 5432, allowed: false, regions: ["primary"], why: "no failover controller in the primary" },
  { from: "freight-operators", to: "aws-api", port: 443, allowed: false, regions: ["primary"], why: "no failover drivers in the primary" },
  { from: "migrate", to: "aws-api", port: 443, allowed: false, regions: ACTIVE, why: "the release Jobs need only the database" },
  { from: "usage-warnings", to: "stripe-api", port: 443, allowed: false, regions: ACTIVE, why: "only billing's jobs talk to Stripe" },
  { from: "onboarding-nudges", to: "stripe-api", port: 443, allowed: false, regions: ACTIVE, why: "the nudge job needs only the database" },
  { from: "onboarding-nudges", to: "kubernetes-api", port: 443, allowed: false, regions: ACTIVE, why: "nor the Kubernetes API" },
  { from: "exec-report", to: "aws-api", port: 443, allowed: false, regions: ACTIVE, why: "the report reads Prometheus and the database only" },
  { from: "pricing-backtest", to: "database", port: 5432, allowed: true, regions: ACTIVE, flow: "database", why: "reads settled bookings, stores the result" },
  { from: "pricing-backtest", to: "kubernetes-api", port: 443, allowed: true, regions: ACTIVE, flow: "pricing-backtest-kubernetes-api", why: "the PricingModel versions it replays" },
  { from: "pricing-backtest", to: "internet-client", port: 443, allowed: false, regions: ACTIVE, why: "the backtest calls nothing outside the VPC" },
  { from: "evidence", to: "metadata-service", port: 80, allowed: false, regions: ACTIVE, why: "instance credentials: the evidence job uses IRSA" },
  { from: "evidence", to: "mail-server", port: 587, allowed: false, regions: ACTIVE, why: "the evidence job sends no mail" },
  { from: "pod-in-tenants", to: "database", port: 5432, allowed: false, why: "the tenants namespace runs nothing: default-deny" },
  { from: "quote-api", to: "database", port: 6379, allowed: false, why: "the database port only" },
];

const SECOND_OCTET: Record<Region, number> = { primary: 20, secondary: 30 };

/** Policies and the platform's pods (by their app.kubernetes.io/name) of one region's plan. */
function planned(manifests: Manifest[]) {
  const policies = manifests.filter((m) => m.kind === "NetworkPolicy");
  const pods = new Map<string, { namespace: string; labels: Record<string, string> }>();
  for (const m of manifests) {
    const spec = m["spec"] as Record<string, any> | undefined;
    const template =
      m.kind === "CronJob"
        ? spec?.jobTemplate?.spec?.template
        : ["Deployment", "Job"].includes(m.kind)
          ? spec?.template
          : undefined;
    const labels = template?.metadata?.labels as Record<string, string> | undefined;
    const name = labels?.["app.kubernetes.io/name"];
    if (name) pods.set(name, { namespace: m.metadata.namespace ?? "default", labels });
  }
  return { policies, pods };
}

function endpoint(
  party: Party,
  region: Region,
  pods: ReturnType<typeof planned>["pods"],
  index: number,
): Endpoint {
  const x = SECOND_OCTET[region];
  // Every pod gets its own address in the private subnets, as the VPC CNI gives them.
  const podIp = `10.${x}.${129 + (index % 3)}.${10 + index}`;
  if (party in ADDRESSES) return { ip: ADDRESSES[party as Address](x) };
  if (party in OTHER_PODS) return { ...OTHER_PODS[party as OtherPod], ip: podIp };
  const pod = pods.get(party);
  if (!pod)
    throw new Error(`The ${region} plan runs no ${party} pod; give the row regions: [...] or fix the plan`);
  return { ...pod, ip: podIp };
}

const PARTIES = [...new Set(TABLE.flatMap((r) => [r.from, r.to]))];
const results = new Map<Region, { rows: Row[]; verdicts: Verdict[]; policies: Manifest[] }>();

beforeAll(async () => {
  const { manifests } = await regionManifests();
  for (const region of ["primary", "secondary"] as Region[]) {
    const { policies, pods } = planned(manifests[region]);
    const rows = TABLE.filter((r) => !r.regions || r.regions.includes(region));
    const at = (party: Party) => endpoint(party, region, pods, PARTIES.indexOf(party));
    const connections: Connection[] = rows.map((r) => ({
      from: at(r.from),
      to: at(r.to),
      port: r.port,
      protocol: r.protocol ?? "TCP",
    }));
    results.set(region, { rows, verdicts: await verdicts(policies, connections), policies });
  }
}, 600_000);

describe.each(["primary", "secondary"] as Region[])(
  "the %s region's network policies, by cyclonus",
  (region) => {
    it("allow every flow the platform needs and refuse what a reviewer would fear", () => {
      const { rows, verdicts: found } = results.get(region)!;
      const wrong = rows.flatMap((row, i) => {
        const v = found[i]!;
        if (v.allowed === row.allowed) return [];
        const side = (name: string, d: DirectionVerdict) =>
          `${name} ${d.allowed ? "allowed" : "denied"} (allowing: ${d.allowing.join(", ") || "none"}; selecting without allowing: ${d.denying.join(", ") || "none"})`;
        const decided = `${side("egress", v.egress)}, ${side("ingress", v.ingress)}`;
        return [
          `${row.from} -> ${row.to}:${row.port}/${row.protocol ?? "TCP"} should be ${row.allowed ? "allowed" : "denied"} (${row.why}): ${decided}`,
        ];
      });
      expect(wrong).toEqual([]);
      expect(rows.length).toBeGreaterThan(30);
    });

    it("refuses by default: a denied row is refused by a default-deny, not let through for want of a policy", () => {
      const { rows, verdicts: found } = results.get(region)!;
      const unselected = rows.flatMap((row, i) => {
        const v = found[i]!;
        // A refused connection must be stopped by policies that select the pods (the default-deny at least).
        if (row.allowed || v.egress.denying.length > 0 || v.ingress.denying.length > 0) return [];
        return [`${row.from} -> ${row.to}:${row.port}`];
      });
      expect(unselected).toEqual([]);
    });

    it("has a row for every flow this region runs, and the generated policies name the flows they allow", () => {
      const { rows, policies } = results.get(region)!;
      const annotated = new Set(
        policies.flatMap((p) =>
          String(
            (p.metadata["annotations"] as Record<string, string> | undefined)?.[FLOWS_ANNOTATION] ?? "",
          ).split(","),
        ),
      );
      annotated.delete("");
      const tested = new Set(rows.filter((r) => r.allowed).map((r) => r.flow));
      expect([...annotated].filter((flow) => !tested.has(flow))).toEqual([]);
      expect([...annotated].every((flow) => NETWORK_FLOWS.some((f) => f.name === flow))).toBe(true);
    });
  },
);

describe("the generated policies", () => {
  it("give every platform namespace a default-deny for both directions, and nothing a default-deny would not refuse beyond the flows", () => {
    const policies = networkPolicyManifests({
      namespaces: ["freight", "freight-system", "tenants"],
      operatorsNamespace: "freight-system",
      vpcCidr: "10.20.0.0/16",
      context: { billing: false, failover: false, active: false },
    });
    const denies = policies.filter((p) => p.metadata.name === "default-deny");
    expect(denies.map((p) => [p.metadata.namespace, p.spec.podSelector, p.spec.policyTypes])).toEqual([
      ["freight", {}, ["Ingress", "Egress"]],
      ["freight-system", {}, ["Ingress", "Egress"]],
      ["tenants", {}, ["Ingress", "Egress"]],
    ]);
    // A standby without billing runs no Jobs and no billing flows: none of their policies exist.
    const names = policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    expect(
      names.some((n) =>
        /migrate|rls-probe|usage-warnings|exec-report|billing-reconcile|onboarding-nudges|lead-signals|nps-invitations|carrier-compliance|trial-expiry/.test(
          n,
        ),
      ),
    ).toBe(false);
    const apiEgress = policies.find((p) => p.metadata.name === "quote-api-egress")!;
    expect(apiEgress.metadata.annotations?.[FLOWS_ANNOTATION]).toBe("dns,database,api-aws,api-tenant-writes");
  });

  it("refuse a workload placed in a namespace the platform does not create, naming the fix", () => {
    expect(() =>
      networkPolicyManifests({
        namespaces: ["freight"],
        operatorsNamespace: "freight-system",
        vpcCidr: "10.20.0.0/16",
        context: { billing: false, failover: false, active: true },
      }),
    ).toThrow(
      /place operators in namespace freight-system, which the Namespaces component does not create; fix platformWorkloads\(\)/,
    );
  });
});
