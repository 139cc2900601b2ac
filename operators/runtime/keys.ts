// Object keys as controller-runtime's types.NamespacedName: `{ namespace, name }` between informers,
// mappers and reconcilers, so nobody splits "ns/name" strings by hand. The work queue still needs
// one string per object to deduplicate; keyString/parseKey are the only places that spell it.
import type { KubeObject } from "../api/types.ts";

export interface ObjectKey {
  /** Absent for cluster-scoped objects (Plans). */
  namespace?: string;
  name: string;
}

export function keyOf(object: KubeObject): ObjectKey {
  const { namespace, name } = object.metadata;
  return namespace ? { namespace, name } : { name };
}

/** "namespace/name", or "name" when cluster-scoped: the queue's identity and the log field. */
export function keyString(key: ObjectKey): string {
  return key.namespace ? `${key.namespace}/${key.name}` : key.name;
}

/** The inverse of keyString. Object names never contain "/", so the first one separates. */
export function parseKey(text: string): ObjectKey {
  const slash = text.indexOf("/");
  if (slash < 0) return { name: text };
  return { namespace: text.slice(0, slash), name: text.slice(slash + 1) };
}
