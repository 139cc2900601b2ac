// A controller: informers feed keys into a work queue, workers reconcile them. Reconcile is
// level-triggered: it gets a key, reads the world, and converges; it never learns which event
// fired. Errors requeue with backoff; 409 Conflict requeues too, as the expected outcome of
// racing another writer, and is counted apart from errors.
import type { Logger } from "pino";
import type { KubeObject } from "../api/types.ts";
import { objectKey, type Informer } from "./informer.ts";
import { isConflict } from "./kube.ts";
import type { OperatorMetrics } from "./metrics.ts";
import { WorkQueue, type RateLimiterOptions } from "./workqueue.ts";

/**
 * An update worth reconciling for a controller that does not read status: the spec changed
 * (generation), or metadata a controller acts on (deletion, finalizers, labels, annotations).
 */
export function specOrMetadataChanged(object: KubeObject, previous: KubeObject): boolean {
  const a = object.metadata;
  const b = previous.metadata;
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.finalizers ?? []) !== JSON.stringify(b.finalizers ?? []) ||
    JSON.stringify(a.labels ?? {}) !== JSON.stringify(b.labels ?? {}) ||
    JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {})
  );
}

export interface ReconcileResult {
  /** Reconcile again after this long even if nothing changes (e.g. to refresh usage). */
  requeueAfterMs?: number;
}

export interface Reconciler {
  reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult | void>;
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
   * keys `map` returns (e.g. every tenant on a changed plan). `relevant` filters updates (periodic
   * resyncs always pass), so a controller is not woken by status it wrote itself.
   */
  watch<T extends KubeObject>(
    informer: Informer<T>,
    map: (object: T) => string[] = (o) => [objectKey(o)],
    relevant: (object: T, previous: T) => boolean = () => true,
  ): void {
    this.informers.push(informer as unknown as Informer<KubeObject>);
    const enqueue = (object: T) => {
      for (const key of map(object)) this.queue.add(key);
    };
    informer.on({
      added: enqueue,
      deleted: enqueue,
      updated: (object, previous) => {
        if (previous !== object && !relevant(object, previous)) return;
        enqueue(object);
        // A change can move an object away from keys it mapped to (a tenant changing plans).
        if (previous !== object) enqueue(previous);
      },
    });
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
        const result = await this.reconciler.reconcile(key, signal);
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
          this.queue.addRateLimited(key);
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
