import { describe, expect, it } from "vitest";
import { Batcher } from "./batcher.ts";

describe("Batcher", () => {
  it("runs a lone item at once, and groups what arrives while a batch is in flight", async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const batcher = new Batcher<number, number>({
      concurrency: 1,
      run: async (items) => {
        batches.push(items);
        if (batches.length === 1) await new Promise<void>((r) => (release = r));
        return items.map((i) => i * 10);
      },
    });
    const first = batcher.submit(1);
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1]]); // nobody waited for a batch to fill
    const rest = [2, 3, 4].map((i) => batcher.submit(i));
    await new Promise((r) => setImmediate(r));
    expect(batches).toHaveLength(1);
    release();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it("caps a batch at maxBatch", async () => {
    const sizes: number[] = [];
    const batcher = new Batcher<number, number>({
      maxBatch: 2,
      concurrency: 1,
      run: async (items) => (sizes.push(items.length), items),
    });
    await Promise.all([1, 2, 3, 4, 5].map((i) => batcher.submit(i)));
    expect(sizes).toEqual([2, 2, 1]);
  });

  it("fails only the bad item of a failed batch; its neighbours still succeed", async () => {
    const batcher = new Batcher<number, number>({
      run: async (items) => {
        if (items.includes(13)) throw new Error("13 is refused");
        return items;
      },
    });
    const results = await Promise.allSettled([12, 13, 14].map((i) => batcher.submit(i)));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe("13 is refused");
    expect(batcher.stats.fallbacks).toBe(1);
  });
});
