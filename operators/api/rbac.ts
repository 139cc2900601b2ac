// Least-privilege RBAC for the operator process, generated into operators/deploy/rbac.yaml. Each
// controller declares what it touches; the ClusterRole is their union and nothing else. A test runs
// the manager under exactly this role against a real API server. Billing's Role (its Tenant
// writes) is generated here too, so every permission on platform.freight.dev objects is declared
// in one place, and so is signup's (Tenant creation); the stacks bind both to the quote API's
// ServiceAccount.
import { API_GROUP, OPERATOR_NAME, OPERATOR_NAMESPACE } from "./group.ts";

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** A namespaced object as it is written to rbac.yaml. */
export interface NamespacedManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Namespace Tenants live in (billing's Role is scoped to it). */
export const TENANTS_NAMESPACE = "tenants";

/** Billing's Role: read and server-side apply Tenants in their namespace. */
export const BILLING_ROLE_NAME = "freight-billing";

/** Signup's Role: create Tenants, and read one back (self-serve signup, app/signup/tenant-registrar.ts). */
export const SIGNUP_ROLE_NAME = "freight-signup";

/** Name of the Lease the manager's replicas elect a leader on. */
export const LEADER_LEASE_NAME = `${OPERATOR_NAME}-leader`;

const read = ["get", "list", "watch"];

export const controllerPermissions: Record<string, PolicyRule[]> = {
  // Reads plans, rate-limit policies and tenants, writes tenant status (rate limits included), holds
  // the offboarding finalizer (a patch).
  tenant: [
    { apiGroups: [API_GROUP], resources: ["plans", "ratelimitpolicies"], verbs: read },
    { apiGroups: [API_GROUP], resources: ["tenants"], verbs: [...read, "patch"] },
    { apiGroups: [API_GROUP], resources: ["tenants/status"], verbs: ["get", "patch"] },
  ],
  // Reads policies, plans and tenants; writes policy status.
  ratelimit: [
    { apiGroups: [API_GROUP], resources: ["ratelimitpolicies", "plans", "tenants"], verbs: read },
    { apiGroups: [API_GROUP], resources: ["ratelimitpolicies/status"], verbs: ["get", "patch"] },
  ],
  // Reads the on-call's RegionFailover, writes only its status.
  failover: [
    { apiGroups: [API_GROUP], resources: ["regionfailovers"], verbs: read },
    { apiGroups: [API_GROUP], resources: ["regionfailovers/status"], verbs: ["get", "patch"] },
  ],
  // Reads PricingModels, writes only their status (the split the app reads goes to PostgreSQL).
  pricing: [
    { apiGroups: [API_GROUP], resources: ["pricingmodels"], verbs: read },
    { apiGroups: [API_GROUP], resources: ["pricingmodels/status"], verbs: ["get", "patch"] },
  ],
  // Events for humans (threshold crossings, offboarding, unknown plans), from any controller.
  events: [{ apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create"] }],
};

/**
 * The union of rules, one per API group and verb set: verbs are merged per resource first, then
 * resources with the same verbs share a rule, so the ClusterRole reads as a short list.
 */
export function mergeRules(rules: PolicyRule[]): PolicyRule[] {
  const verbOrder = ["get", "list", "watch", "create", "update", "patch", "delete"];
  const verbsOf = new Map<string, Set<string>>();
  for (const rule of rules) {
    if (rule.resourceNames) throw new Error("cluster-wide rules must not be limited by resource name");
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        const key = `${group}\u0000${resource}`;
        const verbs = verbsOf.get(key) ?? new Set<string>();
        for (const verb of rule.verbs) verbs.add(verb);
        verbsOf.set(key, verbs);
      }
    }
  }
  const merged = new Map<string, PolicyRule>();
  for (const [key, verbSet] of verbsOf) {
    const [group = "", resource = ""] = key.split("\u0000");
    const verbs = [...verbSet].sort((a, b) => verbOrder.indexOf(a) - verbOrder.indexOf(b));
    const ruleKey = `${group}\u0000${verbs.join(",")}`;
    const existing = merged.get(ruleKey);
    if (existing) existing.resources.push(resource);
    else merged.set(ruleKey, { apiGroups: [group], resources: [resource], verbs });
  }
  return [...merged.values()];
}

/**
 * What billing may do on the control plane: read and server-side apply Tenants in the tenants'
 * namespace. No create (an apply that would create a Tenant is refused), no delete, no status,
 * nothing cluster-wide.
 */
export function billingRole(): NamespacedManifest {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: {
      name: BILLING_ROLE_NAME,
      namespace: TENANTS_NAMESPACE,
      labels: {
        "app.kubernetes.io/name": BILLING_ROLE_NAME,
        "app.kubernetes.io/part-of": "freight-platform",
      },
    },
    rules: [{ apiGroups: [API_GROUP], resources: ["tenants"], verbs: ["get", "patch"] }],
  };
}

/** Binds billing's Role to the ServiceAccount the billing process runs as. */
export function billingRoleBinding(serviceAccount: { namespace: string; name: string }): NamespacedManifest {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: `${BILLING_ROLE_NAME}-${serviceAccount.name}`, namespace: TENANTS_NAMESPACE },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: BILLING_ROLE_NAME },
    subjects: [{ kind: "ServiceAccount", ...serviceAccount }],
  };
}

/**
 * What self-serve signup may do on the control plane: create a Tenant in the tenants' namespace.
 * No get, patch or delete: signup never changes a Tenant that exists (a create of a taken name is
 * refused with 409), and the tenant controller provisions the rest.
 */
export function signupRole(): NamespacedManifest {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: {
      name: SIGNUP_ROLE_NAME,
      namespace: TENANTS_NAMESPACE,
      labels: {
        "app.kubernetes.io/name": SIGNUP_ROLE_NAME,
        "app.kubernetes.io/part-of": "freight-platform",
      },
    },
    // get: after a create whose answer was lost, whether the Tenant found is this signup's own.
    rules: [{ apiGroups: [API_GROUP], resources: ["tenants"], verbs: ["create", "get"] }],
  };
}

/** Binds signup's Role to the ServiceAccount the quote API runs as. */
export function signupRoleBinding(serviceAccount: { namespace: string; name: string }): NamespacedManifest {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: `${SIGNUP_ROLE_NAME}-${serviceAccount.name}`, namespace: TENANTS_NAMESPACE },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: SIGNUP_ROLE_NAME },
    subjects: [{ kind: "ServiceAccount", ...serviceAccount }],
  };
}

export function rbacObjects(): Record<string, unknown>[] {
  const labels = { "app.kubernetes.io/name": OPERATOR_NAME, "app.kubernetes.io/part-of": "freight-platform" };
  const meta = (name: string, namespaced: boolean) => ({
    name,
    ...(namespaced ? { namespace: OPERATOR_NAMESPACE } : {}),
    labels,
  });
  const subject = { kind: "ServiceAccount", name: OPERATOR_NAME, namespace: OPERATOR_NAMESPACE };
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: OPERATOR_NAMESPACE, labels } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(OPERATOR_NAME, true) },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: meta(OPERATOR_NAME, false),
      rules: mergeRules(Object.values(controllerPermissions).flat()),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: meta(OPERATOR_NAME, false),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: OPERATOR_NAME },
      subjects: [subject],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: meta(`${OPERATOR_NAME}-leader-election`, true),
      rules: [
        // create cannot be limited by name (the object does not exist yet); everything else can.
        { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
        {
          apiGroups: ["coordination.k8s.io"],
          resources: ["leases"],
          verbs: ["get", "update"],
          resourceNames: [LEADER_LEASE_NAME],
        },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta(`${OPERATOR_NAME}-leader-election`, true),
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "Role",
        name: `${OPERATOR_NAME}-leader-election`,
      },
      subjects: [subject],
    },
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: TENANTS_NAMESPACE, labels: { "app.kubernetes.io/part-of": "freight-platform" } },
    },
    billingRole(),
    signupRole(),
  ];
}
