// `npm run bench:quotes`: POST /v1/quotes over loopback with an HTTP load generator (autocannon), once
// with metering on and once with it off, against the same PostgreSQL (durable settings) in one run.
// The app runs as its own process, as in production; the load generator runs in this one.
// The same run measures the two ceilings the quote path is held against: PostgreSQL executing the hot
// statement (create_quote, one per quote) from pgbench, and a bare Fastify handler over the same
// loopback; and the latency at a tenth of the metered rate, where no batch forms.
//   npm run bench:quotes -- --duration 15 --connections 32 --tenants 8
//   npm run bench:quotes -- --keyed     # every request with its own Idempotency-Key
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { createPool } from "../app/db/pool.ts";
import { provisionDatabase } from "../tools/postgres/provision.ts";
import { provisionTenant } from "../app/db/seed.ts";
import { freePort, postgresBinDir, startPostgres } from "../tools/postgres/server.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "15" },
    connections: { type: "string", default: "32" },
    warmup: { type: "string", default: "3" },
    json: { type: "boolean", default: false },
    // 1: every quote meters against one tenant's usage row (the worst case); N: spread over N tenants.
    tenants: { type: "string", default: "1" },
    // Every request with its own Idempotency-Key: the keyed path, acknowledged only once durable.
    keyed: { type: "boolean", default: false },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const warmup = Number(values.warmup);
const tenantCount = Number(values.tenants);

const LANES = [
  ["Chicago, IL", "Dallas, TX"],
  ["Los Angeles, CA", "Phoenix, AZ"],
  ["Atlanta, GA", "Miami, FL"],
  ["Newark, NJ", "Chicago, IL"],
  ["Houston, TX", "Memphis, TN"],
  ["Seattle, WA", "Portland, OR"],
  ["Denver, CO", "Kansas City, MO"],
  ["Columbus, OH", "Charlotte, NC"],
] as const;
const EQUIPMENT = ["dry_van", "reefer", "flatbed"] as const;

interface RunResult {
  metering: "on" | "off";
  requests: number;
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
  non2xx: number;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

async function startAppProcess(
  env: Record<string, string>,
  entry = "app/server.ts",
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, ...env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { url, child };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error("the app did not become ready within 10 s");
}

async function load(
  url: string,
  apiKeys: string[],
  seconds: number,
  overallRate?: number,
): Promise<{ times: number[]; result: autocannon.Result }> {
  const pickup = new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10);
  const requests = apiKeys.flatMap((apiKey) =>
    LANES.flatMap(([origin, destination]) =>
      EQUIPMENT.map((equipment) => ({
        method: "POST" as const,
        path: "/v1/quotes",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ origin, destination, equipment, weightLbs: 36_000, pickupDate: pickup }),
        ...(values.keyed
          ? {
              setupRequest: (request: { headers?: Record<string, string> }) => ({
                ...request,
                headers: { ...request.headers, "idempotency-key": randomUUID() },
              }),
            }
          : {}),
      })),
    ),
  );
  const times: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url, connections, duration: seconds, requests, overallRate },
      (error, result) => (error ? reject(error) : resolve({ times, result })),
    );
    // Per-response times, so the percentiles are exact (autocannon itself reports p90 and p97.5, not p95).
    instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode === 201) times.push(responseTime);
    });
  });
}

function summary(
  metering: RunResult["metering"],
  times: number[],
  result: autocannon.Result,
  seconds: number,
): RunResult {
  times.sort((a, b) => a - b);
  return {
    metering,
    requests: times.length,
    throughput: Math.round(times.length / seconds),
    p50: round(percentile(times, 50)),
    p95: round(percentile(times, 95)),
    p99: round(percentile(times, 99)),
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Saturating load; with `lowLoad`, also a pass at a tenth of the rate reached, where no batch forms. */
async function run(
  metering: "on" | "off",
  env: Record<string, string>,
  apiKeys: string[],
  entry = "app/server.ts",
): Promise<{ saturated: RunResult; tenth?: RunResult }> {
  const { url, child } = await startAppProcess({ ...env, METERING: metering }, entry);
  try {
    await load(url, apiKeys, warmup);
    const { times, result } = await load(url, apiKeys, duration);
    const saturated = summary(metering, times, result, duration);
    if (entry !== "app/server.ts" || metering === "off") return { saturated };
    const rate = Math.max(1, Math.round(saturated.throughput / 10));
    const low = await load(url, apiKeys, duration, rate);
    return { saturated, tenth: summary(metering, low.times, low.result, duration) };
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
  }
}

/**
 * The database's ceiling for one statement per quote: pgbench runs create_quote (metered, as the app
 * role, prepared like the app's named statement) from as many clients as the app has connections.
 */
async function statementCeiling(appUrl: string, tenantIds: string[], clients: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "bench-pgbench-"));
  try {
    const scripts = tenantIds.map((tenantId, i) => {
      const file = join(dir, `quote-${i}.sql`);
      writeFileSync(
        file,
        `\\set w random(20000, 44000)\nSELECT * FROM create_quote('${tenantId}'::uuid, true, 'Chicago, IL', 'Dallas, TX', 'dry_van', :w, '2027-01-15', 925, 180000, 30000, 25000, 235000, '{}', 'bench', 30);\n`,
      );
      return ["-f", `${file}@1`];
    });
    const args = ["-n", "-M", "prepared", "-c", String(clients), "-j", "2", "-T", String(duration)];
    const { stdout } = await promisify(execFile)(join(postgresBinDir(), "pgbench"), [
      ...args,
      ...scripts.flat(),
      appUrl,
    ]);
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
    if (!tps) throw new Error(`pgbench printed no tps:\n${stdout}`);
    return Math.round(Number(tps[1]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Durable settings (fsync on, synchronous_commit on), as in production: every quote is committed to disk.
const durable = await provisionDatabase({
  seed: "demo",
  server: await startPostgres({ name: "bench", durable: true }),
});
try {
  // Enterprise tenants: their ceilings are far beyond what a run can use.
  const operator = createPool(durable.urls.operator, 2);
  const apiKeys: string[] = [];
  const tenantIds: string[] = [];
  for (let i = 0; i < tenantCount; i++) {
    const tenant = await provisionTenant(operator, {
      slug: `bench-${i}`,
      name: `Bench ${i}`,
      planId: "enterprise",
    });
    apiKeys.push(tenant.apiKey);
    tenantIds.push(tenant.tenantId);
  }
  await operator.end();
  const env = { DATABASE_URL: durable.urls.app, DB_POOL_SIZE: "16" };
  const { saturated: on, tenth } = await run("on", env, apiKeys);
  const { saturated: off } = await run("off", env, apiKeys);
  const { saturated: bare } = await run("off", env, apiKeys, "bench/bare-handler.ts");
  const ceiling = await statementCeiling(durable.urls.app, tenantIds, 16);
  const cost = 1 - on.throughput / off.throughput;
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  if (values.json) {
    console.log(
      JSON.stringify(
        {
          machine,
          duration,
          connections,
          runs: [on, off],
          tenthOfRate: tenth,
          bareHandler: bare.throughput,
          statementCeiling: ceiling,
          meteringCost: cost,
        },
        null,
        2,
      ),
    );
  } else {
    console.log(
      `\nPOST /v1/quotes${values.keyed ? " with an Idempotency-Key each" : ""}, ${connections} connections, ${tenantCount} tenant(s), ${duration} s per run after ${warmup} s warm-up; ${machine}\n`,
    );
    console.log("metering  quotes/s   p50 ms  p95 ms  p99 ms  non-2xx  errors");
    for (const r of [on, off]) {
      console.log(
        `${r.metering.padEnd(8)}  ${String(r.throughput).padStart(8)}  ${String(r.p50).padStart(6)}  ${String(r.p95).padStart(6)}  ${String(r.p99).padStart(6)}  ${String(r.non2xx).padStart(7)}  ${String(r.errors).padStart(6)}`,
      );
    }
    if (tenth) {
      console.log(
        `${"on, 1/10".padEnd(8)}  ${String(tenth.throughput).padStart(8)}  ${String(tenth.p50).padStart(6)}  ${String(tenth.p95).padStart(6)}  ${String(tenth.p99).padStart(6)}  ${String(tenth.non2xx).padStart(7)}  ${String(tenth.errors).padStart(6)}`,
      );
    }
    const ratio = on.throughput / ceiling;
    console.log(
      `\nCeilings in this run: create_quote from pgbench (16 clients) ${ceiling}/s; a bare Fastify handler ${bare.throughput}/s.`,
    );
    console.log(
      `Metered quotes reach ${ratio.toFixed(2)}x the one-statement ceiling and ${(on.throughput / bare.throughput).toFixed(2)}x the bare handler.`,
    );
    console.log(`Metering costs ${(cost * 100).toFixed(1)} % of throughput (goal: at most 33 %).`);
    const goal = ratio >= 1 && on.p95 <= 25 && (tenth?.p95 ?? Infinity) <= 5;
    console.log(
      `Goal >= 1.0x the statement ceiling at p95 <= 25 ms, and p95 <= 5 ms at a tenth of that rate: ${goal ? "met" : "NOT met"}.`,
    );
  }
} finally {
  await durable.stop();
}
