// Every pod the stack declares is isolated: selected, in its namespace, by a default-deny
// NetworkPolicy for ingress and for egress (a policy of that type with no rules), so it can only
// talk along the flows other policies allow. Pods no policy selects can reach everything, and a
// workload added in a new namespace would be one. The platform's policies are generated from
// infra/workloads/network-flows.ts; this rule holds any workload of the stack to the same bar.
import type { PolicyResource } from "@pulumi/policy";
import type { Rule, Unknown } from "./common.ts";
import { UNKNOWN, asList, at, isRecord, isUnknown, report } from "./common.ts";
import { POD_SPEC_PATHS } from "./kubernetes.ts";

export const NETWORK_POLICY_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
type Direction = "Ingress" | "Egress";

interface DenyPolicy {
  namespace: string;
  podSelector: unknown;
  denies: Direction[];
}

function namespaceOf(props: unknown): string | Unknown {
  const ns = at(props, "metadata", "namespace");
  if (isUnknown(ns)) return UNKNOWN;
  return typeof ns === "string" && ns !== "" ? ns : "default";
}

/**
 * The directions a policy denies by default: those it governs (policyTypes; Ingress alone when
 * unset and no egress rules, as the API server defaults it) with no rule allowing anything.
 */
function defaultDenies(policy: PolicyResource): DenyPolicy | Unknown {
  const namespace = namespaceOf(policy.props);
  const podSelector = at(policy.props, "spec", "podSelector");
  const types = at(policy.props, "spec", "policyTypes");
  const ingress = at(policy.props, "spec", "ingress");
  const egress = at(policy.props, "spec", "egress");
  if ([namespace, podSelector, types, ingress, egress].some(isUnknown)) return UNKNOWN;
  const governed =
    asList(types).length > 0
      ? asList(types)
      : asList(egress).length > 0
        ? ["Ingress", "Egress"]
        : ["Ingress"];
  const denies: Direction[] = [];
  if (governed.includes("Ingress") && asList(ingress).length === 0) denies.push("Ingress");
  if (governed.includes("Egress") && asList(egress).length === 0) denies.push("Egress");
  return { namespace: namespace as string, podSelector, denies };
}

/** Kubernetes label selector semantics: every matchLabels pair and every expression must hold. */
export function selects(selector: unknown, labels: Record<string, string>): boolean {
  if (!isRecord(selector)) return false;
  const matchLabels = isRecord(selector["matchLabels"]) ? selector["matchLabels"] : {};
  for (const [key, value] of Object.entries(matchLabels)) if (labels[key] !== value) return false;
  for (const expression of asList(selector["matchExpressions"])) {
    if (!isRecord(expression)) return false;
    const key = String(expression["key"]);
    const values = asList(expression["values"]).map(String);
    const has = Object.hasOwn(labels, key);
    switch (expression["operator"]) {
      case "In":
        if (!has || !values.includes(labels[key]!)) return false;
        break;
      case "NotIn":
        if (has && values.includes(labels[key]!)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

function podLabelsOf(workload: PolicyResource): Record<string, string> | Unknown {
  const path = POD_SPEC_PATHS[workload.type]!;
  const labels = at(workload.props, ...path.slice(0, -1), "metadata", "labels");
  if (isUnknown(labels)) return UNKNOWN;
  if (!isRecord(labels)) return {};
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)]));
}

export const k8sPodsDefaultDeny: Rule = {
  name: "k8s-pods-default-deny",
  description:
    "Every pod the stack runs is selected by a default-deny NetworkPolicy for ingress and egress in its namespace, so it talks only along the flows other policies allow.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    "Run the workload in a namespace of the Namespaces component (infra/workloads/namespaces.ts), which gets a default-deny NetworkPolicy, and add the flows it needs to infra/workloads/network-flows.ts.",
  validateStack: (args, reportViolation) => {
    const policies: DenyPolicy[] = [];
    for (const resource of args.resources.filter((r) => r.type === NETWORK_POLICY_TYPE)) {
      const policy = defaultDenies(resource);
      // A policy not known yet could be the one that selects a pod: no verdict this time.
      if (isUnknown(policy)) return;
      policies.push(policy);
    }
    for (const workload of args.resources.filter((r) => POD_SPEC_PATHS[r.type])) {
      const namespace = namespaceOf(workload.props);
      const labels = podLabelsOf(workload);
      if (isUnknown(namespace) || isUnknown(labels)) continue;
      const selecting = policies.filter((p) => p.namespace === namespace && selects(p.podSelector, labels));
      const open = (["Ingress", "Egress"] as const).filter(
        (d) => !selecting.some((p) => p.denies.includes(d)),
      );
      if (open.length === 0) continue;
      report(
        reportViolation,
        workload,
        `runs pods in namespace ${namespace} that no default-deny NetworkPolicy selects for ${open.join(" and ")}, so they can ${open.length === 2 ? "reach and be reached by" : open[0] === "Ingress" ? "be reached by" : "reach"} any pod and address.`,
        `deploy it into a namespace of the Namespaces component (infra/workloads/namespaces.ts), whose default-deny NetworkPolicy infra/workloads/network-policies.ts generates, and add the flows it needs to infra/workloads/network-flows.ts; outside the platform's components, add a NetworkPolicy in ${namespace} with podSelector: {} and policyTypes: [Ingress, Egress] and no rules.`,
      );
    }
  },
};

export const networkPolicyRules: Rule[] = [k8sPodsDefaultDeny];
