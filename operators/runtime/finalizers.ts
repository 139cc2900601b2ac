// Finalizers are added and removed with a JSON merge patch carrying the resourceVersion the
// decision was made on: if the object changed meanwhile the API server answers 409 and the
// reconcile runs again on fresh data, so a finalizer is never removed on a stale view.
import type { ResourceRef } from "../api/crd.ts";
import type { KubeObject } from "../api/types.ts";
import type { KubeClient } from "./kube.ts";

export function hasFinalizer(object: KubeObject, finalizer: string): boolean {
  return object.metadata.finalizers?.includes(finalizer) ?? false;
}

export async function addFinalizer<T extends KubeObject>(
  client: KubeClient,
  ref: ResourceRef,
  object: T,
  finalizer: string,
  fieldManager: string,
): Promise<T> {
  if (hasFinalizer(object, finalizer)) return object;
  return client.mergePatch<T>(
    ref,
    object.metadata.name,
    {
      metadata: {
        finalizers: [...(object.metadata.finalizers ?? []), finalizer],
        resourceVersion: object.metadata.resourceVersion,
      },
    },
    { namespace: object.metadata.namespace, fieldManager },
  );
}

export async function removeFinalizer<T extends KubeObject>(
  client: KubeClient,
  ref: ResourceRef,
  object: T,
  finalizer: string,
  fieldManager: string,
): Promise<T> {
  if (!hasFinalizer(object, finalizer)) return object;
  return client.mergePatch<T>(
    ref,
    object.metadata.name,
    {
      metadata: {
        finalizers: (object.metadata.finalizers ?? []).filter((f) => f !== finalizer),
        resourceVersion: object.metadata.resourceVersion,
      },
    },
    { namespace: object.metadata.namespace, fieldManager },
  );
}
