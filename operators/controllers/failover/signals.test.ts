// The database signal against a database that hangs rather than refuses (stopped, or partitioned
// away with packets dropped): it must read as failing within about a second, not look healthy
// until the query times out.
import { createServer, type Server, type Socket } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { waitFor } from "../../../tools/platform/operators.ts";
import { DatabaseWatch, WATCH_STALL_MS } from "./signals.ts";

let silent: Server;
const sockets = new Set<Socket>();
let url: string;

beforeAll(async () => {
  // Accepts connections and never answers: PostgreSQL's startup reply never comes.
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  url = `postgres://freight_operator@127.0.0.1:${(silent.address() as { port: number }).port}/freight`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

it("reads a database that does not answer as failing once a probe has waited WATCH_STALL_MS", async () => {
  const pool = () => {
    const p = new pg.Pool({ connectionString: url, connectionTimeoutMillis: 30_000 });
    p.on("error", () => undefined);
    return p;
  };
  const pools = { primary: pool(), secondary: pool() };
  const watch = new DatabaseWatch(pools);
  try {
    const started = Date.now();
    // The watch's timer starts the first probe; until it has waited long enough there is no verdict.
    const reading = await waitFor(
      "the stalled probe to read as failing",
      async () => {
        const r = await watch.reading("primary");
        return r.healthy ? undefined : r;
      },
      { timeoutMs: 15_000 },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(WATCH_STALL_MS);
    expect(reading).toMatchObject({ signal: "database", healthy: false });
    expect(reading.detail).toMatch(/^no answer to SELECT 1 for \d+\.\d s$/);
  } finally {
    watch.close();
    for (const socket of sockets) socket.destroy();
    await Promise.all([pools.primary.end(), pools.secondary.end()]).catch(() => undefined);
  }
});
