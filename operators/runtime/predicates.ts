// Which updates of a watched object are worth a reconcile, after controller-runtime's predicate
// package: small named predicates (generation changed, finalizers changed, ...) combined with
// and/or/not, so each controller says in one line what wakes it. They filter updates only; adds,
// deletes and periodic resyncs always pass (the Controller decides that, not the predicate).
import type { KubeObject } from "../api/types.ts";

/** True when the change from `previous` to `object` should enqueue a reconcile. */
export type Predicate<T extends KubeObject = KubeObject> = (object: T, previous: T) => boolean;

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The spec changed: the API server bumps metadata.generation for spec edits, not for status. */
export const generationChanged: Predicate = (o, p) => o.metadata.generation !== p.metadata.generation;

/** Deletion began (deletionTimestamp set). */
export const deletionChanged: Predicate = (o, p) =>
  o.metadata.deletionTimestamp !== p.metadata.deletionTimestamp;

export const labelsChanged: Predicate = (o, p) => !sameJson(o.metadata.labels ?? {}, p.metadata.labels ?? {});

export const annotationsChanged: Predicate = (o, p) =>
  !sameJson(o.metadata.annotations ?? {}, p.metadata.annotations ?? {});

/**
 * The finalizer list changed. With `ignoreAdded`, a change that only adds that finalizer does not
 * count: a controller adding its own finalizer need not wake itself, but someone removing it must.
 */
export function finalizersChanged(options: { ignoreAdded?: string } = {}): Predicate {
  const ignored = options.ignoreAdded;
  return (o, p) => {
    const before = p.metadata.finalizers ?? [];
    let after = o.metadata.finalizers ?? [];
    if (ignored && !before.includes(ignored)) after = after.filter((f) => f !== ignored);
    return !sameJson(after, before);
  };
}

/** A value the controller acts on changed, e.g. another controller reporting status.tenantId. */
export function fieldChanged<T extends KubeObject>(select: (object: T) => unknown): Predicate<T> {
  return (o, p) => !sameJson(select(o), select(p));
}

export function and<T extends KubeObject>(...predicates: Predicate<T>[]): Predicate<T> {
  return (o, p) => predicates.every((predicate) => predicate(o, p));
}

export function or<T extends KubeObject>(...predicates: Predicate<T>[]): Predicate<T> {
  return (o, p) => predicates.some((predicate) => predicate(o, p));
}

export function not<T extends KubeObject>(predicate: Predicate<T>): Predicate<T> {
  return (o, p) => !predicate(o, p);
}

/** Metadata a controller acts on: deletion, finalizers, labels, annotations. */
export const metadataChanged: Predicate = or(
  deletionChanged,
  finalizersChanged(),
  labelsChanged,
  annotationsChanged,
);

/**
 * An update worth reconciling for a controller that does not read status: the spec changed, or
 * metadata it acts on. Status written by any controller alone does not pass.
 */
export const specOrMetadataChanged: Predicate = or(generationChanged, metadataChanged);
