// Where a signup becomes a tenant: a Tenant object on the control plane, created (never applied over
// an existing one) with the signup's own user agent, so the tenant controller provisions its plan's
// limits exactly as for a tenant sales created, and an existing Tenant is never taken over. The
// quote API's ServiceAccount holds only `create` on tenants for this (operators/api/rbac.ts).
import { apiVersion } from "../../operators/api/group.ts";
import { tenants as tenantsRef } from "../../operators/api/resources.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { isConflict, type KubeClient } from "../../operators/runtime/kube.ts";
import type { AppConfig } from "../config.ts";
import { inClusterClient, kubeconfigClient } from "../billing/tenant-resource.ts";

export const SIGNUP_FIELD_MANAGER = "freight-signup";

export interface TenantRegistrar {
  /** "control plane https://..., namespace tenants", for the start-up log. */
  readonly target: string;
  /** Creates the Tenant; "exists" when one by that name is already there (nothing is changed then). */
  register(slug: string, spec: { displayName: string; plan: string }): Promise<"created" | "exists">;
  close(): void;
}

export class KubeTenantRegistrar implements TenantRegistrar {
  readonly target: string;
  readonly #client: KubeClient;
  readonly #namespace: string;

  constructor(client: KubeClient, namespace: string) {
    this.#client = client;
    this.#namespace = namespace;
    this.target = `control plane ${client.server}, namespace ${namespace}`;
  }

  async register(slug: string, spec: { displayName: string; plan: string }): Promise<"created" | "exists"> {
    const tenant: Tenant = {
      apiVersion,
      kind: "Tenant",
      metadata: {
        name: slug,
        namespace: this.#namespace,
        labels: { "platform.freight.dev/origin": "self-serve-signup" },
      },
      spec: { displayName: spec.displayName, plan: spec.plan, billingStatus: "trialing" },
    } as Tenant;
    try {
      await this.#client.create(tenantsRef, tenant, this.#namespace);
      return "created";
    } catch (error) {
      if (isConflict(error)) return "exists";
      throw error;
    }
  }

  close(): void {
    this.#client.close();
  }
}

/** The registrar the quote API's configuration points at, or undefined without a control plane. */
export function tenantRegistrarFromConfig(config: AppConfig): TenantRegistrar | undefined {
  if (config.KUBERNETES_API === "in-cluster")
    return new KubeTenantRegistrar(inClusterClient(SIGNUP_FIELD_MANAGER), config.BILLING_TENANT_NAMESPACE);
  if (config.KUBECONFIG)
    return new KubeTenantRegistrar(
      kubeconfigClient(config.KUBECONFIG, SIGNUP_FIELD_MANAGER),
      config.BILLING_TENANT_NAMESPACE,
    );
  return undefined;
}
