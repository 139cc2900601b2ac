import { describe, expect, it } from "vitest";
import { AdaptiveConcurrency } from "./congestion.ts";

describe("AdaptiveConcurrency", () => {
  it("holds requests beyond the window until one finishes", async () => {
    const window = new AdaptiveConcurrency({ initial: 2 });
    const a = await window.acquire();
    await window.acquire();
    let third = false;
    void window.acquire().then(() => (third = true));
    await new Promise((r) => setImmediate(r));
    expect(third).toBe(false);
    a("ok", 5);
    await new Promise((r) => setImmediate(r));
    expect(third).toBe(true);
    expect(window.active).toBe(2);
  });

  it("doubles per window of quick successes until the first overload (slow start)", () => {
    const window = new AdaptiveConcurrency({ initial: 16, max: 128 });
    for (let i = 0; i < 16; i++) window.record("ok", 10);
    expect(window.limit).toBe(32);
    for (let i = 0; i < 96; i++) window.record("ok", 10);
    expect(window.limit).toBe(128);
  });

  it("halves on 429 once per cool-down, then widens by about one per window of quick successes", () => {
    let now = 0;
    const window = new AdaptiveConcurrency({ initial: 16, min: 1, coolDownMs: 1000 }, () => now);
    window.record("throttled", 10);
    window.record("throttled", 10); // same overload: counted once
    expect(window.limit).toBe(8);
    for (let i = 0; i < 9; i++) window.record("ok", 10);
    expect(window.limit).toBe(9);
    now = 2000;
    window.record("ok", 5000); // far slower than the recent norm: queueing, back off before the 429s come
    expect(window.limit).toBe(4);
    window.record("failed", 10); // a refused connection says nothing about load
    expect(window.limit).toBe(4);
  });

  it("keeps its width when the server is uniformly slow, busy with others", () => {
    let now = 0;
    const window = new AdaptiveConcurrency({ initial: 16 }, () => now);
    for (let i = 0; i < 50; i++) {
      now += 2000;
      window.record("ok", 3000 + (i % 5) * 100);
    }
    expect(window.limit).toBeGreaterThanOrEqual(16);
    expect(window.stats.slow).toBe(0);
  });

  it("lets a leader-election request through at once when hundreds wait in a narrowed window", async () => {
    let now = 0;
    const window = new AdaptiveConcurrency({ initial: 4, min: 4 }, () => now);
    const held = await Promise.all(Array.from({ length: 4 }, () => window.acquire()));
    // 400 reconciles' requests queued behind a window of 4, as under throttling on a loaded machine.
    const queued = Array.from({ length: 400 }, () => window.acquire());
    await new Promise((r) => setImmediate(r));
    expect(window.waiting).toBe(400);

    let renewed = false;
    void window.acquire({ exempt: true }).then((done) => {
      renewed = true;
      now += 1000;
      done("throttled", 5); // its outcome still tells the window about the server
    });
    await new Promise((r) => setImmediate(r));
    expect(renewed).toBe(true);
    expect(window.active).toBe(4); // it took no slot from the others
    expect(window.stats.throttled).toBe(1);

    for (const done of held) done("ok", 5);
    await Promise.all(queued.map(async (acquired) => (await acquired)("ok", 5)));
    expect(window.waiting).toBe(0);
  });

  it("never goes below the minimum or above the maximum", () => {
    let now = 0;
    const window = new AdaptiveConcurrency({ initial: 2, min: 1, max: 3 }, () => now);
    for (let i = 0; i < 5; i++) {
      now += 2000;
      window.record("throttled", 1);
    }
    expect(window.limit).toBe(1);
    for (let i = 0; i < 100; i++) window.record("ok", 1);
    expect(window.limit).toBe(3);
  });
});
