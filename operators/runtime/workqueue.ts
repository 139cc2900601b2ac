// A work queue with client-go's guarantees: a key is queued at most once however many events name
// it; a key being reconciled is never handed to a second worker (changes that arrive meanwhile mark
// it dirty and it is queued again when the first worker is done); failed keys are retried with
// per-item exponential backoff, reset by forget() on success; and retries share a global token
// bucket so a broken dependency cannot turn every failing key into a storm of requests.
//
// Transient failures (the API server unreachable, restarting or throttling, a 409 from racing
// another writer) are not the key's fault and are retried apart: their backoff stops at
// `transientMaxDelayMs` and they do not draw on the global budget. Drawn from it, a 5 s API server
// restart under 300 failing keys ran the budget thousands of reservations into debt, and each
// key's own backoff kept doubling towards five minutes, so keys came back minutes after the server
// did. The API request window (congestion.ts) is what keeps these retries from flooding the server.
import { backoffDelay } from "./backoff.ts";

export interface RateLimiterOptions {
  /** First retry delay; doubles per consecutive failure of the same key. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Global retry budget: sustained retries per second and burst. */
  retriesPerSecond: number;
  retryBurst: number;
  /** Longest delay before retrying a key after a transient failure. */
  transientMaxDelayMs: number;
}

export const defaultRateLimiter: RateLimiterOptions = {
  baseDelayMs: 100,
  maxDelayMs: 5 * 60_000,
  retriesPerSecond: 10,
  retryBurst: 100,
  transientMaxDelayMs: 5_000,
};

/** Token bucket that hands out reservations: the delay until a token is available. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(ratePerSecond: number, burst: number, now: () => number = Date.now) {
    this.rate = ratePerSecond;
    this.burst = burst;
    this.tokens = burst;
    this.now = now;
    this.last = now();
  }

  reserve(): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly limiter: RateLimiterOptions;
  private readonly bucket: TokenBucket;
  private shuttingDown = false;

  constructor(limiter: Partial<RateLimiterOptions> = {}) {
    this.limiter = { ...defaultRateLimiter, ...limiter };
    this.bucket = new TokenBucket(this.limiter.retriesPerSecond, this.limiter.retryBurst);
  }

  /** Keys waiting to be handed to a worker. */
  get depth(): number {
    return this.queue.length;
  }

  /** Keys waiting, being processed or scheduled for later. */
  get pending(): number {
    return this.dirty.size + this.processing.size + this.timers.size;
  }

  /** Whether `key` waits to be handed to a worker (including again, after the one processing it). */
  isQueued(key: string): boolean {
    return this.dirty.has(key);
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // queued again by done()
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds the key after `ms`; an earlier pending schedule for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /**
   * Schedules a retry: the later of the key's own backoff and the global budget's next token; or,
   * for a `transient` failure, the key's own backoff capped at `transientMaxDelayMs` (with jitter,
   * so keys parked by one outage do not all return in the same millisecond).
   */
  addRateLimited(key: string, cause: "failure" | "transient" = "failure"): number {
    const attempt = this.failures.get(key) ?? 0;
    this.failures.set(key, attempt + 1);
    const delay =
      cause === "transient"
        ? backoffDelay(attempt, {
            baseMs: this.limiter.baseDelayMs,
            maxMs: Math.min(this.limiter.maxDelayMs, this.limiter.transientMaxDelayMs),
            jitter: 0.5,
          })
        : Math.max(
            backoffDelay(attempt, { baseMs: this.limiter.baseDelayMs, maxMs: this.limiter.maxDelayMs }),
            this.bucket.reserve(),
          );
    this.addAfter(key, delay);
    return delay;
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The key succeeded: its next failure starts the backoff from the beginning. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
