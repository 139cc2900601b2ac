// Status apply-if-changed: a reconciler decides the status fields it owns, and this writes them with
// server-side apply under its field manager only when they differ from what is stored. A steady
// state therefore writes nothing (2,000 tenants resynced = 0 writes), and since a write bumps the
// resourceVersion, skipping it also spares every watcher an event.
import type { ResourceRef } from "../api/crd.ts";
import type { KubeObject } from "../api/types.ts";
import type { KubeClient } from "./kube.ts";

/** Deterministic JSON (sorted keys, undefined dropped), to compare a desired status with the stored one. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

export interface ApplyStatusOptions {
  fieldManager: string;
  /**
   * This field manager's part of the stored status, to compare against. Defaults to the whole
   * stored status; a controller sharing the status with another (Tenant) passes only its fields.
   */
  current?: unknown;
}

/**
 * Server-side applies `desired` as the status of `object` when it differs from the stored one.
 * Fields the manager applied before and leaves out now are released (that is what apply means), so
 * `desired` must hold every field the manager owns. Returns whether it wrote.
 */
export async function applyStatusIfChanged(
  client: KubeClient,
  ref: ResourceRef,
  object: KubeObject & { status?: unknown },
  desired: object,
  options: ApplyStatusOptions,
): Promise<boolean> {
  const current = "current" in options ? options.current : (object.status ?? {});
  if (canonical(desired) === canonical(current)) return false;
  await client.apply(
    ref,
    {
      apiVersion: ref.group ? `${ref.group}/${ref.version}` : ref.version,
      kind: ref.kind,
      metadata: { name: object.metadata.name, namespace: object.metadata.namespace },
      status: desired,
    } as KubeObject,
    { fieldManager: options.fieldManager, subresource: "status", force: true },
  );
  return true;
}
