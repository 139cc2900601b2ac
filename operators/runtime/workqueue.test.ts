import { describe, expect, it } from "vitest";
import { TokenBucket, WorkQueue } from "./workqueue.ts";

describe("WorkQueue", () => {
  it("queues a key once however often it is added", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    queue.add("a");
    queue.add("b");
    expect(queue.depth).toBe(2);
    expect(await queue.get()).toBe("a");
    expect(await queue.get()).toBe("b");
  });

  it("never hands out a key that is being processed; a change meanwhile requeues it after done()", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    const key = await queue.get();
    queue.add("a"); // an event while a worker holds "a"
    expect(queue.depth).toBe(0);
    let second: string | undefined;
    void queue.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    queue.done(key!);
    await Promise.resolve();
    expect(second).toBe("a");
  });

  it("backs off a failing key exponentially and forget() resets it", () => {
    const queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
    expect([1, 2, 3, 4, 5].map(() => queue.addRateLimited("a"))).toEqual([100, 200, 400, 800, 1000]);
    queue.forget("a");
    expect(queue.addRateLimited("a")).toBe(100);
    queue.shutDown();
  });

  it("limits retries of many keys with the global budget", () => {
    const queue = new WorkQueue({ baseDelayMs: 1, retriesPerSecond: 10, retryBurst: 5 });
    const delays = Array.from({ length: 8 }, (_, i) => queue.addRateLimited(`k${i}`));
    expect(delays.slice(0, 5).every((d) => d === 1)).toBe(true);
    expect(delays[7]).toBeGreaterThanOrEqual(250);
    queue.shutDown();
  });

  it("retries transient failures soon after the API server is back, whatever the outage cost", () => {
    const queue = new WorkQueue({ baseDelayMs: 100, retriesPerSecond: 10, retryBurst: 100 });
    // 300 keys failing ten times each while the API server restarts: 3,000 failures.
    let last: number[] = [];
    for (let round = 0; round < 10; round++)
      last = Array.from({ length: 300 }, (_, i) => queue.addRateLimited(`k${i}`, "transient"));
    // Each comes back within the transient cap (5 s), not after minutes of backoff or budget debt.
    expect(Math.max(...last)).toBeLessThanOrEqual(5_000);
    expect(Math.min(...last)).toBeGreaterThanOrEqual(2_500);
    // The global budget was not drawn on: a real failure now still gets a prompt first retry.
    expect(queue.addRateLimited("broken")).toBe(100);
    // A key failing for its own reasons keeps backing off towards the long maximum.
    for (let i = 0; i < 11; i++) queue.addRateLimited("broken");
    expect(queue.addRateLimited("broken")).toBeGreaterThan(60_000);
    queue.shutDown();
  });

  it("wakes waiting workers with undefined on shutdown", async () => {
    const queue = new WorkQueue();
    const waiting = queue.get();
    queue.shutDown();
    expect(await waiting).toBeUndefined();
  });
});

describe("TokenBucket", () => {
  it("refills at the configured rate", () => {
    let now = 0;
    const bucket = new TokenBucket(2, 1, () => now);
    expect(bucket.reserve()).toBe(0);
    expect(bucket.reserve()).toBe(500);
    now = 1000;
    expect(bucket.reserve()).toBe(0);
  });
});
