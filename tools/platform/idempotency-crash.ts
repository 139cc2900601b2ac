// The idempotency crash drill: the real app over a durable PostgreSQL (fsync and synchronous_commit on,
// as in production), a burst of keyed writes on every metered or stateful write route (quotes, bookings,
// bulk jobs, limit-increase requests) with an Idempotency-Key each from concurrent clients,
// kill -9 of the database (postmaster and backends) in the middle of it, a restart with crash recovery,
// then every request retried with its key until it is answered. It counts what a client would notice:
// an acknowledged (2xx) answer that does not replay identically after the crash, and a meter (quotes,
// bulk jobs) that differs from what the tenant holds. Used by the crash test (a few rounds) and by
// `npm run drill:idempotency-crash` (20 rounds by default).
import { isDeepStrictEqual } from "node:util";
import pg from "pg";
import { parseAppConfig } from "../../app/config.ts";
import { createPool } from "../../app/db/pool.ts";
import { provisionTenant } from "../../app/db/seed.ts";
import { startApp } from "../../app/server.ts";
import { crashPostgres, restartPostgres, type Postmaster } from "../postgres/crash.ts";
import { provisionDatabase } from "../postgres/provision.ts";
import { startPostgres } from "../postgres/server.ts";
import { quoteBody } from "./api-client.ts";

export interface CrashRound {
  round: number;
  /** Keyed requests sent before the crash, and how many of them were answered 201. */
  sent: number;
  acknowledged: number;
  /** Acknowledged keys whose retry did not return the same answer (a lost or changed answer). */
  lost: string[];
  /** After every key was answered: the tenant's quotes meter, its quotes and the quote keys answered so far. */
  meter: number;
  quotes: number;
  answeredKeys: number;
  /** The same for bulk jobs: the bulk_jobs meter and the jobs stored. */
  bulkMeter: number;
  bulkJobs: number;
  /** Acknowledged answers per route in this round. */
  acknowledgedByRoute: Record<WriteRoute, number>;
  killedProcesses: number;
}

export interface CrashDrillOptions {
  rounds: number;
  /** Concurrent clients in each burst. */
  clients?: number;
  /** The crash comes at a random moment this many milliseconds into the burst. */
  crashWithinMs?: [number, number];
  log?: (line: string) => void;
}

export type WriteRoute = "quote" | "booking" | "bulk-job" | "limit-increase";

interface KeyedWrite {
  route: WriteRoute;
  path: string;
  body: unknown;
}

interface Answer {
  status: number;
  body: unknown;
  replayed: boolean;
}

const acknowledgedStatus = (status: number) => status === 201 || status === 202;

async function post(url: string, apiKey: string, key: string, write: KeyedWrite): Promise<Answer | null> {
  try {
    const response = await fetch(`${url}${write.path}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${apiKey}`,
        "content-type": "application/json",
        "idempotency-key": key,
      },
      body: JSON.stringify(write.body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text ? JSON.parse(text) : undefined,
      replayed: response.headers.get("idempotent-replayed") === "true",
    };
  } catch {
    return null; // connection reset or timeout: not acknowledged
  }
}

export async function runCrashDrill(options: CrashDrillOptions): Promise<CrashRound[]> {
  const log = options.log ?? (() => undefined);
  const clients = options.clients ?? 16;
  const [crashFrom, crashTo] = options.crashWithinMs ?? [300, 1200];
  const server = await startPostgres({ name: "crash", durable: true });
  let postmaster: Postmaster & { stop?: () => Promise<void> } = { process: server.process };
  const db = await provisionDatabase({ server, seed: "plans" });
  const operator = createPool(db.urls.operator, 1);
  const { apiKey, tenantId } = await provisionTenant(operator, {
    slug: "crash-drill",
    name: "Crash drill",
    planId: "enterprise",
  });
  await operator.end();
  const running = await startApp(
    parseAppConfig({
      DATABASE_URL: db.urls.app,
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      DB_POOL_SIZE: "16",
    }),
  );
  const rounds: CrashRound[] = [];
  const writes = new Map<string, KeyedWrite>();
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const acknowledged = new Map<string, unknown>();
      // Quotes acknowledged this round and not booked yet: what a booking books.
      const bookable: string[] = [];
      let next = 0;
      let stop = false;
      const nextWrite = (n: number): KeyedWrite => {
        if (n % 8 === 3 && bookable.length)
          return { route: "booking", path: `/v1/quotes/${bookable.shift()}/book`, body: {} };
        if (n % 8 === 5)
          return { route: "bulk-job", path: "/v1/bulk-jobs", body: { lanes: [quoteBody(), quoteBody()] } };
        if (n % 8 === 7)
          return {
            route: "limit-increase",
            path: "/v1/limit-increase-requests",
            body: { meter: "quotes", requestedLimit: 5_000_000 + n, reason: `crash drill ${round}` },
          };
        return { route: "quote", path: "/v1/quotes", body: quoteBody({ weightLbs: 10_000 + (n % 30_000) }) };
      };
      const client = async () => {
        while (!stop) {
          const n = next++;
          const key = `drill-${round}-${n}`;
          const write = nextWrite(n);
          writes.set(key, write);
          const answer = await post(running.url, apiKey, key, write);
          if (answer && acknowledgedStatus(answer.status)) {
            acknowledged.set(key, answer.body);
            if (write.route === "quote") bookable.push((answer.body as { id: string }).id);
          } else if (!answer || answer.status >= 500) await new Promise((r) => setTimeout(r, 50));
        }
      };
      const burst = Array.from({ length: clients }, client);
      let killedProcesses: number;
      try {
        await new Promise((r) => setTimeout(r, crashFrom + Math.random() * (crashTo - crashFrom)));
        killedProcesses = await crashPostgres(postmaster);
        await new Promise((r) => setTimeout(r, 200)); // clients keep trying against the dead server
      } finally {
        stop = true;
        await Promise.all(burst);
      }
      postmaster = await restartPostgres(server);

      // Every request retried with its key until answered, as a client with a retry policy does.
      const keys = [...writes.keys()].filter((k) => k.startsWith(`drill-${round}-`));
      const lost: string[] = [];
      let index = 0;
      const retrier = async () => {
        while (index < keys.length) {
          const key = keys[index++] as string;
          let answer: Answer | null = null;
          const first = acknowledged.get(key);
          // A write never acknowledged may be refused for good once its meter is used up (the day's
          // bulk jobs, after many rounds): that refusal is its answer. An acknowledged one must replay.
          const settled = (a: Answer | null) =>
            a !== null && (acknowledgedStatus(a.status) || (a.status === 429 && first === undefined));
          for (let attempt = 0; attempt < 100 && !settled(answer); attempt++) {
            if (attempt > 0) await new Promise((r) => setTimeout(r, 100));
            answer = await post(running.url, apiKey, key, writes.get(key)!);
          }
          if (!answer || !settled(answer))
            throw new Error(`${key} was not answered after the restart: ${JSON.stringify(answer)}`);
          if (first !== undefined && (!answer.replayed || !isDeepStrictEqual(answer.body, first)))
            lost.push(key);
        }
      };
      await Promise.all(Array.from({ length: 8 }, retrier));

      const check = new pg.Client({ connectionString: db.urls.ops });
      await check.connect();
      const { rows } = await check.query<{
        meter: number;
        quotes: number;
        bulk_meter: number;
        bulk_jobs: number;
      }>(
        `SELECT (SELECT coalesce(sum(used), 0)::int FROM usage_counters WHERE tenant_id = $1 AND meter = 'quotes') AS meter,
                (SELECT count(*)::int FROM quotes WHERE tenant_id = $1) AS quotes,
                (SELECT coalesce(sum(used), 0)::int FROM usage_counters WHERE tenant_id = $1 AND meter = 'bulk_jobs') AS bulk_meter,
                (SELECT count(*)::int FROM jobs WHERE tenant_id = $1) AS bulk_jobs`,
        [tenantId],
      );
      await check.end();
      const result: CrashRound = {
        round,
        sent: keys.length,
        acknowledged: acknowledged.size,
        lost,
        meter: rows[0]?.meter ?? -1,
        quotes: rows[0]?.quotes ?? -1,
        answeredKeys: [...writes.values()].filter((w) => w.route === "quote").length,
        bulkMeter: rows[0]?.bulk_meter ?? -1,
        bulkJobs: rows[0]?.bulk_jobs ?? -1,
        acknowledgedByRoute: Object.fromEntries(
          (["quote", "booking", "bulk-job", "limit-increase"] as const).map((route) => [
            route,
            [...acknowledged.keys()].filter((k) => writes.get(k)!.route === route).length,
          ]),
        ) as Record<WriteRoute, number>,
        killedProcesses,
      };
      rounds.push(result);
      log(
        `crash ${round}: ${result.sent} keyed requests, ${result.acknowledged} acknowledged before kill -9 of ${killedProcesses} processes; ` +
          `${lost.length} acknowledged answers lost; quotes meter ${result.meter}, quotes ${result.quotes}, quote keys ${result.answeredKeys}; ` +
          `bulk meter ${result.bulkMeter}, jobs ${result.bulkJobs}; acknowledged by route ${JSON.stringify(result.acknowledgedByRoute)}`,
      );
    }
  } finally {
    await running.stop();
    await postmaster.stop?.();
    await db.stop();
  }
  return rounds;
}
