// Parallelism sized to the API server instead of to a constant: an AIMD window (TCP's congestion
// control, and what client-go's priority-and-fairness clients approximate with Retry-After) on the
// requests a client has in flight. Until the first sign of overload the window grows by one per
// quick success (TCP's slow start: it doubles every window's worth), so a cold start reaches the
// server's pace within a few hundred requests instead of thousands; after a decrease it grows by
// about one request per window's worth of successes. A 429 (the server's max-in-flight or
// priority-and-fairness saying "too many"), or a response far slower than the recent norm (the
// server queueing us), narrows it by half, at most once per `coolDownMs` so a burst of refusals
// from one overload counts once.
// Slowness is judged against the recent norm, not a constant: a server that is uniformly slow
// (busy with others) must not shrink the window to one request, which would only add to the wait.
//
// Leader election is exempt (as priority-and-fairness exempts it on the server): a lease renewal
// queued behind hundreds of reconciles' requests in a narrowed window missed its renew deadline on
// a loaded machine, the manager stepped down and exited, and a throttled rollout never converged.

export interface CongestionOptions {
  initial: number;
  min: number;
  max: number;
  /**
   * A response slower than this many times the recent mean latency, and slower than
   * `latencyFloorMs`, means the server is queueing: back off before it refuses.
   */
  latencySpike: number;
  latencyFloorMs: number;
  coolDownMs: number;
}

export const defaultCongestion: CongestionOptions = {
  initial: 16,
  min: 4,
  max: 128,
  latencySpike: 4,
  latencyFloorMs: 1000,
  coolDownMs: 1000,
};

export class AdaptiveConcurrency {
  private window: number;
  /** Below this the window grows by one per success (slow start); lowered to the window on a decrease. */
  private slowStartThreshold: number;
  private inFlight = 0;
  private lastDecrease = Number.NEGATIVE_INFINITY;
  /** Moving mean of response latency (weight 1/20 per sample). */
  private meanLatencyMs: number | undefined;
  private readonly waiters: (() => void)[] = [];
  private readonly options: CongestionOptions;
  private readonly now: () => number;
  readonly stats = { throttled: 0, slow: 0, decreases: 0 };

  constructor(options: Partial<CongestionOptions> = {}, now: () => number = Date.now) {
    this.options = { ...defaultCongestion, ...options };
    this.window = this.options.initial;
    this.slowStartThreshold = this.options.max;
    this.now = now;
  }

  /** Requests allowed in flight now. */
  get limit(): number {
    return Math.floor(this.window);
  }

  get active(): number {
    return this.inFlight;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Waits for a slot; call the returned function with the outcome when the request ends. An
   * `exempt` request (leader election) never waits and takes no slot, but its outcome still counts.
   */
  async acquire(
    options: { exempt?: boolean } = {},
  ): Promise<(outcome: "ok" | "throttled" | "failed", latencyMs: number) => void> {
    if (options.exempt) {
      let recorded = false;
      return (outcome, latencyMs) => {
        if (recorded) return;
        recorded = true;
        this.record(outcome, latencyMs);
      };
    }
    while (this.inFlight >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.inFlight++;
    let released = false;
    return (outcome, latencyMs) => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.record(outcome, latencyMs);
      this.wake();
    };
  }

  record(outcome: "ok" | "throttled" | "failed", latencyMs: number): void {
    if (outcome === "throttled") {
      this.stats.throttled++;
      this.decrease();
    } else if (outcome === "ok") {
      const mean = this.meanLatencyMs ?? latencyMs;
      this.meanLatencyMs = mean + (latencyMs - mean) / 20;
      if (latencyMs > this.options.latencyFloorMs && latencyMs > mean * this.options.latencySpike) {
        this.stats.slow++;
        this.decrease();
      } else {
        const growth = this.window < this.slowStartThreshold ? 1 : 1 / this.window;
        this.window = Math.min(this.options.max, this.window + growth);
      }
    }
    // Other failures (connection refused, 5xx) say nothing about load: the caller's backoff handles them.
  }

  private decrease(): void {
    const now = this.now();
    if (now - this.lastDecrease < this.options.coolDownMs) return;
    this.lastDecrease = now;
    this.stats.decreases++;
    this.window = Math.max(this.options.min, this.window / 2);
    this.slowStartThreshold = this.window;
  }

  private wake(): void {
    // Woken requests check the window again, so waking one too many costs nothing but a loop.
    for (let free = this.limit - this.inFlight; free > 0 && this.waiters.length; free--)
      this.waiters.shift()!();
  }
}
