// Where a granted limit increase takes effect: one entry of Tenant.spec.overrides, server-side applied
// with the field manager freight-limits, so the tenant controller raises the effective limit and
// `kubectl get tenant -o yaml` shows who set it and (reason, annotation) which request it came from.
// Server-side apply releases what a manager stops stating, so every apply restates the overrides
// (and request annotations) this manager set earlier for other meters; entries ops wrote by hand
// under another manager are left alone unless they are for the same meter, which the grant replaces.
import { KubeConfig } from "@kubernetes/client-node";
import { apiVersion } from "../../operators/api/group.ts";
import { tenants as tenantsRef } from "../../operators/api/resources.ts";
import type { MeterOverride, Tenant } from "../../operators/api/tenant.ts";
import { isNotFound, KubeClient } from "../../operators/runtime/kube.ts";
import type { Meter } from "../metering/meters.ts";

export const LIMITS_FIELD_MANAGER = "freight-limits";
/** metadata.annotations key naming the request behind a meter's override. */
export const requestAnnotation = (meter: string) => `limits.platform.freight.dev/${meter}-request`;
/** The CRD's limit on an override's reason. */
const REASON_MAX = 500;

export class TenantMissing extends Error {}

export interface OverrideGrant {
  meter: Meter;
  included: number;
  hardCeiling: number;
  requestId: string;
  reason: string;
}

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  fieldsV1?: Record<string, unknown>;
}

/** The meters whose override entry this manager applied before, from the Tenant's managedFields. */
export function metersManagedBy(tenant: Tenant, manager: string): string[] {
  const entries = (tenant.metadata as { managedFields?: ManagedFieldsEntry[] }).managedFields ?? [];
  const meters = new Set<string>();
  for (const entry of entries) {
    if (entry.manager !== manager || entry.operation !== "Apply") continue;
    const overrides = (entry.fieldsV1?.["f:spec"] as Record<string, unknown> | undefined)?.["f:overrides"];
    for (const key of Object.keys((overrides as Record<string, unknown> | undefined) ?? {})) {
      const match = /^k:(\{.*\})$/.exec(key);
      if (!match) continue;
      const meter = (JSON.parse(match[1]!) as { meter?: unknown }).meter;
      if (typeof meter === "string") meters.add(meter);
    }
  }
  return [...meters];
}

export function overrideReason(grant: OverrideGrant): string {
  const text = `Limit increase request ${grant.requestId}: ${grant.reason.replace(/\s+/g, " ")}`;
  return text.length <= REASON_MAX ? text : `${text.slice(0, REASON_MAX - 1)}…`;
}

export class TenantOverrideWriter {
  readonly target: string;
  private readonly client: KubeClient;
  private readonly namespace: string;

  constructor(client: KubeClient, namespace: string) {
    this.client = client;
    this.namespace = namespace;
    this.target = `control plane ${client.server}, namespace ${namespace}`;
  }

  static fromKubeconfig(path: string, namespace: string): TenantOverrideWriter {
    const config = new KubeConfig();
    config.loadFromFile(path);
    return new TenantOverrideWriter(new KubeClient(config, { userAgent: LIMITS_FIELD_MANAGER }), namespace);
  }

  /** Applies the grant as this meter's override; the same grant applied twice changes nothing. */
  async apply(slug: string, grant: OverrideGrant): Promise<Tenant> {
    let tenant: Tenant;
    try {
      tenant = await this.client.get<Tenant>(tenantsRef, slug, this.namespace);
    } catch (error) {
      // An apply would create the Tenant; only signup and sales create tenants.
      if (isNotFound(error))
        throw new TenantMissing(
          `Tenant ${this.namespace}/${slug} does not exist on ${this.client.server}; nothing was applied. ` +
            "Check KUBECONFIG points at the active region's control plane.",
        );
      throw error;
    }
    const kept = metersManagedBy(tenant, LIMITS_FIELD_MANAGER).filter((m) => m !== grant.meter);
    const overrides: MeterOverride[] = [
      ...(tenant.spec.overrides ?? []).filter((o) => kept.includes(o.meter)),
      {
        meter: grant.meter,
        included: grant.included,
        hardCeiling: grant.hardCeiling,
        reason: overrideReason(grant),
      },
    ];
    const annotations: Record<string, string> = {};
    for (const meter of kept) {
      const id = tenant.metadata.annotations?.[requestAnnotation(meter)];
      if (id) annotations[requestAnnotation(meter)] = id;
    }
    annotations[requestAnnotation(grant.meter)] = grant.requestId;
    return this.client.apply<Tenant>(
      tenantsRef,
      {
        apiVersion,
        kind: "Tenant",
        metadata: { name: slug, namespace: this.namespace, annotations },
        spec: { overrides },
      } as unknown as Tenant,
      // Ops decided: an earlier hand edit of this meter's override gives way to the grant.
      { fieldManager: LIMITS_FIELD_MANAGER, force: true },
    );
  }

  close(): void {
    this.client.close();
  }
}
