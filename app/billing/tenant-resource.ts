// Where a billing decision takes effect: Tenant.spec.plan and spec.billingStatus on the control
// plane, server-side applied with billing's own field manager so the tenant controller propagates
// the plan's limits and `kubectl get tenants` shows who changed what. Without a control plane the
// decision is only recorded (billing_accounts); the start-up log says so.
import { KubeConfig } from "@kubernetes/client-node";
import { apiVersion } from "../../operators/api/group.ts";
import { tenants as tenantsRef } from "../../operators/api/resources.ts";
import type { BillingStatus, Tenant } from "../../operators/api/tenant.ts";
import { isNotFound, KubeClient } from "../../operators/runtime/kube.ts";

export const BILLING_FIELD_MANAGER = "freight-billing";

/** A control-plane client from a kubeconfig file; `userAgent` names the writer in managedFields. */
export function kubeconfigClient(path: string, userAgent: string): KubeClient {
  const config = new KubeConfig();
  config.loadFromFile(path);
  return new KubeClient(config, { userAgent });
}

/**
 * The cluster the process runs in, as its ServiceAccount: the token and CA Kubernetes mounts
 * under `pathPrefix`/var/run/secrets/kubernetes.io/serviceaccount, the API at
 * KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT.
 */
export function inClusterClient(userAgent: string, pathPrefix = ""): KubeClient {
  if (!process.env["KUBERNETES_SERVICE_HOST"] || !process.env["KUBERNETES_SERVICE_PORT"]) {
    throw new Error(
      "KUBERNETES_API=in-cluster, but KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set: " +
        "this process is not running in a Kubernetes pod. Set KUBECONFIG instead.",
    );
  }
  const config = new KubeConfig();
  config.loadFromCluster(pathPrefix);
  return new KubeClient(config, { userAgent });
}

export class TenantResourceMissing extends Error {
  constructor(slug: string, namespace: string) {
    super(
      `Tenant ${namespace}/${slug} does not exist on the control plane; billing does not create tenants. ` +
        `Create the Tenant resource, then resend the event from the Stripe dashboard.`,
    );
  }
}

export interface TenantPlanWriter {
  /** Where decisions go, for the start-up log ("control plane https://..." or "nowhere"). */
  readonly target: string;
  readonly connected: boolean;
  /** The Tenant's current spec.plan, or undefined when there is no control plane. */
  currentPlan(slug: string): Promise<string | undefined>;
  apply(slug: string, desired: { plan: string; billingStatus: BillingStatus }): Promise<void>;
  close(): void;
}

export class KubeTenantPlanWriter implements TenantPlanWriter {
  readonly connected = true;
  readonly target: string;
  private readonly client: KubeClient;
  private readonly namespace: string;

  constructor(client: KubeClient, namespace: string) {
    this.client = client;
    this.namespace = namespace;
    this.target = `control plane ${client.server}, namespace ${namespace}`;
  }

  static fromKubeconfig(path: string, namespace: string): KubeTenantPlanWriter {
    return new KubeTenantPlanWriter(kubeconfigClient(path, BILLING_FIELD_MANAGER), namespace);
  }

  static inCluster(namespace: string, pathPrefix = ""): KubeTenantPlanWriter {
    return new KubeTenantPlanWriter(inClusterClient(BILLING_FIELD_MANAGER, pathPrefix), namespace);
  }

  async currentPlan(slug: string): Promise<string | undefined> {
    try {
      return (await this.client.get<Tenant>(tenantsRef, slug, this.namespace)).spec.plan;
    } catch (error) {
      if (isNotFound(error)) throw new TenantResourceMissing(slug, this.namespace);
      throw error;
    }
  }

  async apply(slug: string, desired: { plan: string; billingStatus: BillingStatus }): Promise<void> {
    // Existence first: an apply would create a Tenant, and only sales/ops create tenants.
    await this.currentPlan(slug);
    await this.client.apply(
      tenantsRef,
      {
        apiVersion,
        kind: "Tenant",
        metadata: { name: slug, namespace: this.namespace },
        spec: { plan: desired.plan, billingStatus: desired.billingStatus },
      } as Tenant,
      // Billing owns these two fields: a hand edit of spec.plan is overwritten by the next event.
      { fieldManager: BILLING_FIELD_MANAGER, force: true },
    );
  }

  close(): void {
    this.client.close();
  }
}

/** No control plane configured: decisions are recorded in billing_accounts and change nothing else. */
export class UnconnectedTenantPlanWriter implements TenantPlanWriter {
  readonly connected = false;
  readonly target = "nowhere (neither KUBECONFIG nor KUBERNETES_API=in-cluster is set)";
  async currentPlan(): Promise<string | undefined> {
    return undefined;
  }
  async apply(): Promise<void> {}
  close(): void {}
}

/** Where billing decisions go, as a process's configuration says: in-cluster, a kubeconfig, or nowhere. */
export function tenantPlanWriterFromConfig(config: {
  KUBERNETES_API?: "in-cluster";
  KUBECONFIG?: string;
  BILLING_TENANT_NAMESPACE: string;
}): TenantPlanWriter {
  if (config.KUBERNETES_API === "in-cluster")
    return KubeTenantPlanWriter.inCluster(config.BILLING_TENANT_NAMESPACE);
  if (config.KUBECONFIG)
    return KubeTenantPlanWriter.fromKubeconfig(config.KUBECONFIG, config.BILLING_TENANT_NAMESPACE);
  return new UnconnectedTenantPlanWriter();
}
