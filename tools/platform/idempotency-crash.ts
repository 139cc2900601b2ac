// The idempotency crash drill: the real app over a durable PostgreSQL (fsync and synchronous_commit on,
// as in production), a burst of POST /v1/quotes with an Idempotency-Key each from concurrent clients,
// kill -9 of the database (postmaster and backends) in the middle of it, a restart with crash recovery,
// then every request retried with its key until it is answered. It counts what a client would notice:
// an acknowledged (201) answer that does not replay identically after the crash, and a meter that
// differs from the quotes the tenant was acknowledged. Used by the crash test (a few rounds) and by
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
  /** After every key was answered: the tenant's quotes meter, its quotes and the keys answered so far. */
  meter: number;
  quotes: number;
  answeredKeys: number;
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

interface Answer {
  status: number;
  body: unknown;
  replayed: boolean;
}

async function post(url: string, apiKey: string, key: string, body: unknown): Promise<Answer | null> {
  try {
    const response = await fetch(`${url}/v1/quotes`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${apiKey}`,
        "content-type": "application/json",
        "idempotency-key": key,
      },
      body: JSON.stringify(body),
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
  const bodies = new Map<string, unknown>();
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const acknowledged = new Map<string, unknown>();
      let next = 0;
      let stop = false;
      const client = async () => {
        while (!stop) {
          const key = `drill-${round}-${next++}`;
          const body = quoteBody({ weightLbs: 10_000 + (next % 30_000) });
          bodies.set(key, body);
          const answer = await post(running.url, apiKey, key, body);
          if (answer?.status === 201) acknowledged.set(key, answer.body);
          else if (!answer || answer.status >= 500) await new Promise((r) => setTimeout(r, 50));
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
      const keys = [...bodies.keys()].filter((k) => k.startsWith(`drill-${round}-`));
      const lost: string[] = [];
      let index = 0;
      const retrier = async () => {
        while (index < keys.length) {
          const key = keys[index++] as string;
          let answer: Answer | null = null;
          for (let attempt = 0; attempt < 100 && answer?.status !== 201; attempt++) {
            if (attempt > 0) await new Promise((r) => setTimeout(r, 100));
            answer = await post(running.url, apiKey, key, bodies.get(key));
          }
          if (answer?.status !== 201)
            throw new Error(`${key} was not answered after the restart: ${JSON.stringify(answer)}`);
          const first = acknowledged.get(key);
          if (first !== undefined && (!answer.replayed || !isDeepStrictEqual(answer.body, first)))
            lost.push(key);
        }
      };
      await Promise.all(Array.from({ length: 8 }, retrier));

      const check = new pg.Client({ connectionString: db.urls.ops });
      await check.connect();
      const { rows } = await check.query<{ meter: number; quotes: number }>(
        `SELECT (SELECT coalesce(sum(used), 0)::int FROM usage_counters WHERE tenant_id = $1 AND meter = 'quotes') AS meter,
                (SELECT count(*)::int FROM quotes WHERE tenant_id = $1) AS quotes`,
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
        answeredKeys: bodies.size,
        killedProcesses,
      };
      rounds.push(result);
      log(
        `crash ${round}: ${result.sent} keyed requests, ${result.acknowledged} acknowledged before kill -9 of ${killedProcesses} processes; ` +
          `${lost.length} acknowledged answers lost; meter ${result.meter}, quotes ${result.quotes}, keys answered ${result.answeredKeys}`,
      );
    }
  } finally {
    await running.stop();
    await postmaster.stop?.();
    await db.stop();
  }
  return rounds;
}
