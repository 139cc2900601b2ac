// The operators' API group. Every custom resource of the platform lives here, so RBAC, CRD names
// and apiVersion strings are derived from these two constants and never spelled by hand.
export const API_GROUP = "platform.freight.dev";
export const API_VERSION = "v1alpha1";
export const apiVersion = `${API_GROUP}/${API_VERSION}`;

/** Finalizer the tenant controller holds until a deleted tenant is offboarded (keys off, export queued). */
export const TENANT_FINALIZER = `${API_GROUP}/tenant-offboarding`;

/** Namespace the operator Deployment, its ServiceAccount and its leader-election Lease live in. */
export const OPERATOR_NAMESPACE = "freight-system";
export const OPERATOR_NAME = "freight-operators";
