// A controller: informers feed keys into a work queue, workers reconcile them. Reconcile is
// level-triggered: it gets a key, reads the world, and converges; it never learns which event
// fired. Errors requeue with backoff; 409 Conflict requeues too, as the expected outcome of
// racing another writer, and is counted apart from errors. Conflicts and an unavailable API server
// are transient: retried soon after the server is back, not after a backoff earned while it was away.
import type { Logger } from "pino";
import type { KubeObject } from "../api/types.ts";
import type { Informer } from "./informer.ts";
import { keyOf, keyString, parseKey, type ObjectKey } from "./keys.ts";
import { isConflict, isUnavailable } from "./kube.ts";
import type { MapFunc } from "./mappers.ts";
import type { OperatorMetrics } from "./metrics.ts";
import type { Predicate } from "./predicates.ts";
import { WorkQueue, type RateLimiterOptions } from "./workqueue.ts";

export interface ReconcileResult {
  /** Reconcile again after this long even if nothing changes (e.g. to refresh usage). */
  requeueAfterMs?: number;
}

export interface Reconciler {
  reconcile(key: ObjectKey, signal: AbortSignal): Promise<ReconcileResult | void>;
}

/** What a watch enqueues, and for which updates (controller-runtime's handler and predicates). */
export interface WatchOptions<T extends KubeObject> {
  /** The keys to reconcile for a changed object; by default the object's own key. */
  map?: MapFunc<T>;
  /**
   * Updates pass only when every predicate does; adds, deletes and periodic resyncs always pass.
   * Without predicates every update passes.
   */
  predicates?: Predicate<T>[];
}

export interface ControllerOptions {
  name: string;
  reconciler: Reconciler;
  workers?: number;
  rateLimiter?: Partial<RateLimiterOptions>;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly reconciler: Reconciler;
  private readonly workers: number;
  private readonly informers: Informer<KubeObject>[] = [];

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.reconciler = options.reconciler;
    this.workers = options.workers ?? 4;
    this.queue = new WorkQueue(options.rateLimiter);
  }

  /**
   * Enqueues keys for changes of `informer`'s objects: the object's own key by default, or the
   * keys `map` returns (e.g. every tenant on a changed plan). `predicates` filter updates, so a
   * controller is not woken by status it wrote itself.
   */
  watch<T extends KubeObject>(informer: Informer<T>, options: WatchOptions<T> = {}): void {
    this.informers.push(informer as unknown as Informer<KubeObject>);
    const map = options.map ?? ((o: T) => [keyOf(o)]);
    const predicates = options.predicates ?? [];
    const enqueue = (...objects: T[]) => {
      // One add per distinct key: a key handed to a worker at once and added again would run twice.
      const keys = new Set(objects.flatMap((object) => map(object).map(keyString)));
      for (const key of keys) this.queue.add(key);
    };
    informer.on({
      added: (object) => enqueue(object),
      deleted: (object) => enqueue(object),
      updated: (object, previous) => {
        // A resync re-delivers the cached object as its own previous: it always passes.
        if (previous === object) return enqueue(object);
        if (!predicates.every((p) => p(object, previous))) return;
        // A change can move an object away from keys it mapped to (a tenant changing plans).
        enqueue(object, previous);
      },
    });
  }

  /** Queues a reconcile of `key` (for sources that are not informers, such as a usage poll). */
  enqueue(key: ObjectKey): void {
    this.queue.add(keyString(key));
  }

  /** Runs workers until `signal` aborts, then lets in-flight reconciles finish. */
  async run(signal: AbortSignal, metrics: OperatorMetrics, log: Logger): Promise<void> {
    const logger = log.child({ controller: this.name });
    await Promise.all(this.informers.map((i) => i.waitForSync(signal)));
    if (signal.aborted) return;
    const depth = setInterval(() => metrics.queueDepth.set({ name: this.name }, this.queue.depth), 1000);
    depth.unref();
    signal.addEventListener("abort", () => this.queue.shutDown(), { once: true });
    logger.info({ workers: this.workers }, "controller started");
    try {
      await Promise.all(Array.from({ length: this.workers }, () => this.worker(signal, metrics, logger)));
    } finally {
      clearInterval(depth);
    }
    logger.info("controller stopped");
  }

  private async worker(signal: AbortSignal, metrics: OperatorMetrics, log: Logger): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const stopTimer = metrics.reconcileDuration.startTimer({ controller: this.name });
      try {
        const result = await this.reconciler.reconcile(parseKey(key), signal);
        this.queue.forget(key);
        if (result?.requeueAfterMs) {
          this.queue.addAfter(key, result.requeueAfterMs);
          metrics.reconciles.inc({ controller: this.name, result: "requeue" });
        } else {
          metrics.reconciles.inc({ controller: this.name, result: "success" });
        }
      } catch (error) {
        if (signal.aborted) {
          // Interrupted by shutdown; the next leader reconciles it from scratch.
        } else if (isConflict(error)) {
          metrics.reconciles.inc({ controller: this.name, result: "conflict" });
          metrics.queueRetries.inc({ name: this.name });
          log.debug({ key }, "conflict (object changed meanwhile); retrying on fresh data");
          this.queue.addRateLimited(key, "transient");
        } else if (isUnavailable(error)) {
          metrics.reconciles.inc({ controller: this.name, result: "error" });
          metrics.reconcileErrors.inc({ controller: this.name });
          metrics.queueRetries.inc({ name: this.name });
          const retryInMs = this.queue.addRateLimited(key, "transient");
          log.warn({ key, err: (error as Error).message, retryInMs }, "API server unavailable; retrying");
        } else {
          metrics.reconciles.inc({ controller: this.name, result: "error" });
          metrics.reconcileErrors.inc({ controller: this.name });
          metrics.queueRetries.inc({ name: this.name });
          const retryInMs = this.queue.addRateLimited(key);
          log.error({ key, err: error, retryInMs }, "reconcile failed");
        }
      } finally {
        stopTimer();
        this.queue.done(key);
      }
    }
  }
}
