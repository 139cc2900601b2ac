// List+watch informer with a local cache, as client-go's reflector and shared informer do it:
// list, then watch from the list's resourceVersion; on a dropped connection watch again from the
// last resourceVersion seen (bookmarks keep it fresh); on 410 Gone (history compacted) relist and
// emit the difference; back off between failed attempts; and re-deliver every cached object
// periodically (resync) so level-triggered controllers correct drift outside the API server.
import type { Logger } from "pino";
import type { ResourceRef } from "../api/crd.ts";
import type { KubeObject } from "../api/types.ts";
import { backoffDelay, sleep } from "./backoff.ts";
import { keyOf, keyString, type ObjectKey } from "./keys.ts";
import { isGone, type KubeClient, type WatchEvent } from "./kube.ts";

export interface InformerHandlers<T> {
  added?(object: T): void;
  updated?(object: T, previous: T): void;
  deleted?(object: T): void;
}

export interface InformerStats {
  lists: number;
  watches: number;
  relistsAfterGone: number;
  reconnects: number;
}

export class Informer<T extends KubeObject> {
  readonly ref: ResourceRef;
  readonly stats: InformerStats = { lists: 0, watches: 0, relistsAfterGone: 0, reconnects: 0 };
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly resyncMs: number;
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private resourceVersion = "";
  private synced = false;
  private syncWaiters: (() => void)[] = [];

  constructor(client: KubeClient, ref: ResourceRef, options: { log: Logger; resyncMs?: number }) {
    this.client = client;
    this.ref = ref;
    this.log = options.log.child({ informer: ref.plural });
    this.resyncMs = options.resyncMs ?? 10 * 60_000;
  }

  on(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
  }

  get(key: ObjectKey): T | undefined {
    return this.store.get(keyString(key));
  }

  list(): T[] {
    return [...this.store.values()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.syncWaiters.push(resolve);
      signal?.addEventListener("abort", () => resolve(), { once: true });
    });
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const resync = this.resyncMs > 0 ? setInterval(() => this.resync(), this.resyncMs) : undefined;
    let failures = 0;
    // Run again after a stop (leadership regained), an informer resumes from the last
    // resourceVersion it saw instead of listing everything again; 410 Gone falls back to a list.
    let needList = !this.synced;
    try {
      while (!signal.aborted) {
        try {
          if (needList) {
            await this.relist(signal);
            needList = false;
          }
          await this.client.watch<T>(
            this.ref,
            {
              resourceVersion: this.resourceVersion,
              signal,
              timeoutSeconds: 300 + Math.floor(Math.random() * 300),
            },
            (event) => this.apply(event),
          );
          failures = 0;
          this.stats.watches++;
        } catch (error) {
          if (signal.aborted) break;
          if (isGone(error) || error instanceof ResourceExpired) {
            this.stats.relistsAfterGone++;
            this.log.info("watch history expired (410 Gone); relisting");
            needList = true;
            continue;
          }
          this.stats.reconnects++;
          const delay = backoffDelay(failures++, { baseMs: 200, maxMs: 30_000, jitter: 0.5 });
          this.log.warn({ err: (error as Error).message, retryInMs: delay }, "list/watch failed; retrying");
          await sleep(delay, signal);
        }
      }
    } finally {
      if (resync) clearInterval(resync);
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const { items, resourceVersion } = await this.client.list<T>(this.ref, { signal });
    this.stats.lists++;
    const seen = new Set<string>();
    for (const item of items) {
      withoutManagedFields(item);
      const key = keyString(keyOf(item));
      seen.add(key);
      const previous = this.store.get(key);
      this.store.set(key, item);
      if (!previous) this.emit("added", item);
      else if (previous.metadata.resourceVersion !== item.metadata.resourceVersion)
        this.emit("updated", item, previous);
    }
    // Objects deleted while we were not watching.
    for (const [key, previous] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emit("deleted", previous);
      }
    }
    this.resourceVersion = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  private apply(event: WatchEvent<T>): void {
    if (event.type === "ERROR") {
      const status = event.object as unknown as { code?: number; message?: string };
      if (status.code === 410) throw new ResourceExpired(status.message ?? "resource version too old");
      throw new Error(`watch error: ${status.code} ${status.message}`);
    }
    const rv = event.object.metadata.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (event.type === "BOOKMARK") return;
    const object = withoutManagedFields({
      apiVersion: `${this.ref.group ? `${this.ref.group}/` : ""}${this.ref.version}`,
      kind: this.ref.kind,
      ...event.object,
    });
    const key = keyString(keyOf(object));
    const previous = this.store.get(key);
    if (event.type === "DELETED") {
      this.store.delete(key);
      this.emit("deleted", object);
      return;
    }
    this.store.set(key, object);
    if (previous) this.emit("updated", object, previous);
    else this.emit("added", object);
  }

  private resync(): void {
    for (const object of this.store.values()) this.emit("updated", object, object);
  }

  private emit(kind: "added" | "deleted", object: T): void;
  private emit(kind: "updated", object: T, previous: T): void;
  private emit(kind: keyof InformerHandlers<T>, object: T, previous?: T): void {
    for (const handler of this.handlers) {
      try {
        if (kind === "updated") handler.updated?.(object, previous!);
        else handler[kind]?.(object);
      } catch (error) {
        this.log.error({ err: error }, "informer handler failed");
      }
    }
  }
}

class ResourceExpired extends Error {}

/**
 * The cache keeps objects without metadata.managedFields: no controller reads them, and on a Tenant
 * they are a large share of the object (every manager's field set), times 10,000 tenants.
 */
function withoutManagedFields<T extends KubeObject>(object: T): T {
  delete (object.metadata as { managedFields?: unknown }).managedFields;
  return object;
}
