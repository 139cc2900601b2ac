// What billing may do on the control plane: read and server-side apply Tenants in the tenants'
// namespace. No create (an apply that would create a Tenant is refused), no delete, no status, nothing
// cluster-wide. Deployments bind this Role to the app's ServiceAccount.
import { API_GROUP } from "../../operators/api/group.ts";

export interface KubeManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [field: string]: unknown;
}

export const BILLING_ROLE_NAME = "freight-billing";

export function billingRbac(options: {
  tenantNamespace: string;
  serviceAccount: { namespace: string; name: string };
}): [KubeManifest, KubeManifest] {
  const metadata = { name: BILLING_ROLE_NAME, namespace: options.tenantNamespace };
  return [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata,
      rules: [{ apiGroups: [API_GROUP], resources: ["tenants"], verbs: ["get", "patch"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: BILLING_ROLE_NAME },
      subjects: [{ kind: "ServiceAccount", ...options.serviceAccount }],
    },
  ];
}
