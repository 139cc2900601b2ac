// The NetworkPolicies of one region, generated from the flow table (network-flows.ts) and nothing
// else: a default-deny for ingress and egress in every namespace of the Namespaces component, then
// per workload one ingress and one egress policy holding a rule per flow it takes part in. Policies
// only add allowances, so the default-deny stays in force for whatever no flow names.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import { privateSubnetCidrs, publicSubnetCidrs } from "../network/network.ts";
import { MONITORING_NAMESPACE } from "../monitoring/monitoring.ts";
import type { Namespaces } from "./namespaces.ts";
import type {
  Flow,
  FlowContext,
  LabelSelector,
  OutsidePeer,
  PlatformWorkload,
  Side,
  WorkloadPods,
} from "./network-flows.ts";
import { ALL_WORKLOADS, NETWORK_FLOWS, platformWorkloads, workloadRuns } from "./network-flows.ts";

export const DEFAULT_DENY_POLICY = "default-deny";
/** Lists the flows (network-flows.ts rows) a generated policy allows, for `kubectl describe`. */
export const FLOWS_ANNOTATION = "freight.dev/network-flows";
const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";
/** Private, shared and link-local ranges: the internet destination never includes them (169.254.169.254 is the metadata service). */
export const NOT_INTERNET = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "169.254.0.0/16",
];

export interface NetworkPolicyPeer {
  ipBlock?: { cidr: string; except?: string[] };
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
}

export interface NetworkPolicyRule {
  peers: NetworkPolicyPeer[];
  ports: { port: number; protocol: "TCP" | "UDP" }[];
}

export interface NetworkPolicyManifest {
  apiVersion: "networking.k8s.io/v1";
  kind: "NetworkPolicy";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: {
    podSelector: LabelSelector;
    policyTypes: ("Ingress" | "Egress")[];
    ingress?: { from: NetworkPolicyPeer[]; ports: NetworkPolicyRule["ports"] }[];
    egress?: { to: NetworkPolicyPeer[]; ports: NetworkPolicyRule["ports"] }[];
  };
}

export interface PolicyInputs {
  /** Every namespace the platform's workloads live in: each gets the default-deny. */
  namespaces: string[];
  operatorsNamespace: string;
  /** The region's VPC block (stack config freight:vpcCidr); the subnets are carved from it. */
  vpcCidr: string;
  context: FlowContext;
  flows?: Flow[];
}

const LABELS = { "app.kubernetes.io/part-of": "freight", "app.kubernetes.io/managed-by": "network-flows" };

function inNamespace(namespace: string, podSelector: LabelSelector): NetworkPolicyPeer {
  return { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } }, podSelector };
}

function outsidePeers(peer: OutsidePeer, vpcCidr: string): NetworkPolicyPeer[] {
  const blocks = (cidrs: string[]) => cidrs.map((cidr) => ({ ipBlock: { cidr } }));
  switch (peer) {
    case "load-balancer":
      return blocks(publicSubnetCidrs(vpcCidr));
    case "prometheus":
      return [inNamespace(MONITORING_NAMESPACE, { matchLabels: { "app.kubernetes.io/name": "prometheus" } })];
    case "alertmanager":
      return [
        inNamespace(MONITORING_NAMESPACE, { matchLabels: { "app.kubernetes.io/name": "alertmanager" } }),
      ];
    case "cluster-dns":
      return [inNamespace("kube-system", { matchLabels: { "k8s-app": "kube-dns" } })];
    case "region-databases":
    case "kubernetes-api":
      return blocks(privateSubnetCidrs(vpcCidr));
    case "peer-region-database":
      return blocks(["10.0.0.0/8"]);
    case "internet":
      return [{ ipBlock: { cidr: "0.0.0.0/0", except: NOT_INTERNET } }];
  }
}

function peersOf(
  side: Side,
  pods: Record<PlatformWorkload, WorkloadPods>,
  vpcCidr: string,
): NetworkPolicyPeer[] {
  if ("outside" in side) return outsidePeers(side.outside, vpcCidr);
  return side.workloads.map((w) => inNamespace(pods[w].namespace, pods[w].podSelector));
}

function takesPart(side: Side, workload: PlatformWorkload): boolean {
  return "workloads" in side && side.workloads.includes(workload);
}

/** The rules of one direction of a workload, a rule per distinct (peers, ports), naming its flows. */
function rulesFor(
  workload: PlatformWorkload,
  direction: "ingress" | "egress",
  inputs: PolicyInputs,
  pods: Record<PlatformWorkload, WorkloadPods>,
): { rules: NetworkPolicyRule[]; flows: string[] } {
  const byKey = new Map<string, NetworkPolicyRule>();
  const flows: string[] = [];
  for (const flow of inputs.flows ?? NETWORK_FLOWS) {
    if (flow.when && !flow.when(inputs.context)) continue;
    const [self, other] = direction === "ingress" ? [flow.to, flow.from] : [flow.from, flow.to];
    if (!takesPart(self, workload)) continue;
    // A flow with a workload that does not run here has nobody on the other side.
    const peers =
      "workloads" in other
        ? peersOf(
            { workloads: other.workloads.filter((w) => workloadRuns(w, inputs.context)) },
            pods,
            inputs.vpcCidr,
          )
        : peersOf(other, pods, inputs.vpcCidr);
    if (peers.length === 0) continue;
    flows.push(flow.name);
    const rule = { peers, ports: flow.ports };
    byKey.set(JSON.stringify(rule), rule);
  }
  return { rules: [...byKey.values()], flows };
}

/** The region's NetworkPolicies, as plain manifests (the stacks create exactly these). */
export function networkPolicyManifests(inputs: PolicyInputs): NetworkPolicyManifest[] {
  const pods = platformWorkloads(inputs.operatorsNamespace);
  const policies: NetworkPolicyManifest[] = inputs.namespaces.map((namespace) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: DEFAULT_DENY_POLICY, namespace, labels: LABELS },
    // Selects every pod of the namespace and allows nothing: only the flows below get through.
    spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
  }));
  for (const workload of ALL_WORKLOADS.filter((w) => workloadRuns(w, inputs.context))) {
    const { namespace, podSelector } = pods[workload];
    if (!inputs.namespaces.includes(namespace)) {
      throw new Error(
        `The network flows place ${workload} in namespace ${namespace}, which the Namespaces component does not create; ` +
          "fix platformWorkloads() in infra/workloads/network-flows.ts.",
      );
    }
    for (const direction of ["ingress", "egress"] as const) {
      const { rules, flows } = rulesFor(workload, direction, inputs, pods);
      if (rules.length === 0) continue;
      policies.push({
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: {
          name: `${workload}-${direction}`,
          namespace,
          labels: LABELS,
          annotations: { [FLOWS_ANNOTATION]: flows.join(",") },
        },
        spec:
          direction === "ingress"
            ? {
                podSelector,
                policyTypes: ["Ingress"],
                ingress: rules.map((r) => ({ from: r.peers, ports: r.ports })),
              }
            : {
                podSelector,
                policyTypes: ["Egress"],
                egress: rules.map((r) => ({ to: r.peers, ports: r.ports })),
              },
      });
    }
  }
  return policies;
}

export interface NetworkPoliciesArgs extends Omit<PolicyInputs, "namespaces"> {
  namespaces: Namespaces;
}

export class NetworkPolicies extends pulumi.ComponentResource {
  readonly names: string[];

  constructor(name: string, args: NetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:NetworkPolicies", name, {}, opts);
    const manifests = networkPolicyManifests({ ...args, namespaces: Object.keys(args.namespaces.byName) });
    for (const manifest of manifests) {
      const { namespace, name: policy } = manifest.metadata;
      new k8s.networking.v1.NetworkPolicy(
        `${name}-${namespace}-${policy}`,
        manifest as unknown as k8s.networking.v1.NetworkPolicyArgs,
        { parent: this, dependsOn: [args.namespaces.get(namespace)] },
      );
    }
    this.names = manifests.map((m) => `${m.metadata.namespace}/${m.metadata.name}`);
    this.registerOutputs({ names: this.names });
  }
}
