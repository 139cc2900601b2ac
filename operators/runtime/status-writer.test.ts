import { describe, expect, it } from "vitest";
import { StatusWriter } from "./status-writer.ts";

/** A write that records its start and ends when its test says so. */
function gate() {
  const started: string[] = [];
  const finish = new Map<string, { resolve: () => void; reject: (e: unknown) => void }>();
  const write = (label: string) => () => {
    started.push(label);
    return new Promise<void>((resolve, reject) => finish.set(label, { resolve, reject }));
  };
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  return { started, finish, write, settle };
}

describe("StatusWriter", () => {
  it("writes a new key at once, and a churning key at most once per interval with its latest status", async () => {
    const g = gate();
    const writer = new StatusWriter({ window: () => 8, minIntervalMs: 200, onFailure: () => {} });
    const leading = new AbortController();
    const running = writer.run(leading.signal);
    const startedAt = Date.now();
    writer.submit("t1", g.write("t1 v1"));
    writer.submit("t2", g.write("t2 v1"));
    await g.settle();
    expect(g.started).toEqual(["t1 v1", "t2 v1"]);
    g.finish.get("t1 v1")!.resolve();
    g.finish.get("t2 v1")!.resolve();
    // Ten more statuses for t1 while its interval runs: only the last is written, once it is due.
    for (let v = 2; v <= 11; v++) writer.submit("t1", g.write(`t1 v${v}`));
    await g.settle();
    expect(g.started).toEqual(["t1 v1", "t2 v1"]);
    while (!g.finish.has("t1 v11")) await new Promise((r) => setTimeout(r, 10));
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190);
    expect(g.started).toEqual(["t1 v1", "t2 v1", "t1 v11"]);
    g.finish.get("t1 v11")!.resolve();
    leading.abort();
    await running;
  });

  it("writes only the latest status submitted for a key, after the one in flight, never two at once", async () => {
    const g = gate();
    const writer = new StatusWriter({ window: () => 8, minIntervalMs: 0, onFailure: () => {} });
    const leading = new AbortController();
    const running = writer.run(leading.signal);
    writer.submit("t1", g.write("t1 v1"));
    writer.submit("t1", g.write("t1 v2"));
    writer.submit("t1", g.write("t1 v3"));
    await g.settle();
    expect(g.started).toEqual(["t1 v1"]);
    g.finish.get("t1 v1")!.resolve();
    await g.settle();
    // v2 was superseded before it started.
    expect(g.started).toEqual(["t1 v1", "t1 v3"]);
    g.finish.get("t1 v3")!.resolve();
    leading.abort();
    await running;
  });

  it("keeps at most the window in flight, oldest waiting first", async () => {
    const g = gate();
    const writer = new StatusWriter({ window: () => 2, minIntervalMs: 0, onFailure: () => {} });
    const leading = new AbortController();
    const running = writer.run(leading.signal);
    for (const key of ["a", "b", "c", "d"]) writer.submit(key, g.write(key));
    await g.settle();
    expect(g.started).toEqual(["a", "b"]);
    expect(writer.pending).toBe(2);
    g.finish.get("a")!.resolve();
    await g.settle();
    expect(g.started).toEqual(["a", "b", "c"]);
    for (const key of ["b", "c"]) g.finish.get(key)!.resolve();
    await g.settle();
    g.finish.get("d")!.resolve();
    leading.abort();
    await running;
  });

  it("starts nothing before leading or after leadership is lost, and reports a failed write to retry", async () => {
    const g = gate();
    const failures: [string, number][] = [];
    const writer = new StatusWriter({
      window: () => 1,
      minIntervalMs: 0,
      onFailure: (key, _e, attempt) => failures.push([key, attempt]),
    });
    writer.submit("a", g.write("a"));
    await g.settle();
    expect(g.started).toEqual([]);
    const leading = new AbortController();
    const running = writer.run(leading.signal);
    await g.settle();
    expect(g.started).toEqual(["a"]);
    g.finish.get("a")!.reject(new Error("429"));
    await g.settle();
    expect(failures).toEqual([["a", 1]]);
    writer.submit("b", g.write("b"));
    await g.settle();
    // Waiting behind b (window 1) when leadership is lost: never written.
    writer.submit("c", g.write("c"));
    leading.abort();
    writer.submit("d", g.write("d"));
    g.finish.get("b")!.resolve();
    await running;
    expect(g.started).toEqual(["a", "b"]);
    expect(writer.pending).toBe(0);
  });
});
