// Where a signup becomes a tenant: a Tenant object on the control plane, created (never applied over
// an existing one) with the signup's own user agent, so the tenant controller provisions its plan's
// limits exactly as for a tenant sales created, and an existing Tenant is never taken over. The
// quote API's ServiceAccount holds `create` and `get` on tenants for this (operators/api/rbac.ts).
//
// An API server that is restarting or overloaded (503, a reset connection) does not fail the signup
// at once: the create is sent again for a few seconds. A create whose answer was lost may have been
// applied, so a 409 after such an attempt is not taken as "the company name is taken": the Tenant
// carries the signup's own id in an annotation, and the Tenant found is ours when it matches.
import { apiVersion } from "../../operators/api/group.ts";
import { tenants as tenantsRef } from "../../operators/api/resources.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { sleep } from "../../operators/runtime/backoff.ts";
import { isConflict, isUnavailable, type KubeClient } from "../../operators/runtime/kube.ts";
import type { AppConfig } from "../config.ts";
import { inClusterClient, kubeconfigClient } from "../billing/tenant-resource.ts";

export const SIGNUP_FIELD_MANAGER = "freight-signup";
/** The signup (its tenant row's id) that created a Tenant: tells a lost create's retry from a duplicate. */
export const SIGNUP_ID_ANNOTATION = "platform.freight.dev/signup-id";

export interface TenantRegistrar {
  /** "control plane https://..., namespace tenants", for the start-up log. */
  readonly target: string;
  /**
   * Creates the Tenant for signup `signupId`; "exists" when another one by that name is already
   * there (nothing is changed then).
   */
  register(
    slug: string,
    spec: { displayName: string; plan: string },
    signupId: string,
  ): Promise<"created" | "exists">;
  close(): void;
}

export interface RegistrarOptions {
  /** How long a create is retried while the API server is unavailable (ms). */
  retryForMs?: number;
}

export class KubeTenantRegistrar implements TenantRegistrar {
  readonly target: string;
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #retryForMs: number;

  constructor(client: KubeClient, namespace: string, options: RegistrarOptions = {}) {
    this.#client = client;
    this.#namespace = namespace;
    this.#retryForMs = options.retryForMs ?? 8_000;
    this.target = `control plane ${client.server}, namespace ${namespace}`;
  }

  async register(
    slug: string,
    spec: { displayName: string; plan: string },
    signupId: string,
  ): Promise<"created" | "exists"> {
    const tenant: Tenant = {
      apiVersion,
      kind: "Tenant",
      metadata: {
        name: slug,
        namespace: this.#namespace,
        labels: { "platform.freight.dev/origin": "self-serve-signup" },
        annotations: { [SIGNUP_ID_ANNOTATION]: signupId },
      },
      spec: { displayName: spec.displayName, plan: spec.plan, billingStatus: "trialing" },
    } as Tenant;
    const deadline = Date.now() + this.#retryForMs;
    // Whether an earlier attempt may have been applied although its answer never came.
    let maybeApplied = false;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#client.create(tenantsRef, tenant, this.#namespace);
        return "created";
      } catch (error) {
        if (isConflict(error)) {
          if (!maybeApplied) return "exists";
          const found = await this.#client.get<Tenant>(tenantsRef, slug, this.#namespace);
          return found.metadata.annotations?.[SIGNUP_ID_ANNOTATION] === signupId ? "created" : "exists";
        }
        if (!isUnavailable(error) || Date.now() >= deadline) throw error;
        // A refused connection never carried the request; a throttled one (429) was not applied.
        const code = (error as { code?: string }).code;
        const status = (error as { status?: number }).status;
        if (code !== "ECONNREFUSED" && status !== 429) maybeApplied = true;
        await sleep(Math.min(250 * 2 ** attempt, 2_000));
      }
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
