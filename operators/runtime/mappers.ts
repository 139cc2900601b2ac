// Map functions for watches (controller-runtime's handler.EnqueueRequestsFromMapFunc): a change of
// one object enqueues the keys of the objects that refer to it, e.g. every Tenant whose spec.plan
// names a changed Plan.
import type { KubeObject } from "../api/types.ts";
import { keyOf, type ObjectKey } from "./keys.ts";

/** From a changed object to the keys to reconcile. */
export type MapFunc<T extends KubeObject> = (object: T) => ObjectKey[];

/** Anything that lists cached objects: an Informer, or a plain list in a test. */
export interface ObjectLister<R> {
  list(): R[];
}

/**
 * The keys of the objects in `source` whose `reference` names the changed object (by name; within
 * its namespace when the changed object is namespaced).
 */
export function referencedBy<R extends KubeObject, T extends KubeObject = KubeObject>(
  source: ObjectLister<R>,
  reference: (object: R) => string | undefined,
): MapFunc<T> {
  return (changed) => {
    const { name, namespace } = changed.metadata;
    return source
      .list()
      .filter((r) => reference(r) === name && (!namespace || r.metadata.namespace === namespace))
      .map(keyOf);
  };
}
