// `npm run bench:quotes`: POST /v1/quotes over loopback with an HTTP load generator (autocannon) against
// the same PostgreSQL (durable settings) in one run: metering on with request rate limiting off and on
// (alternated for --rounds rounds, so a busy machine's drift hits both alike), then metering off.
// The rate-limited tenants' limits sit above the offered load (20,000 per second, bursts of 40,000), so
// every request pays for the limiter (leases from the shared bucket) and none is refused.
// The app runs as its own process, as in production; the load generator runs in this one.
// The same run measures the two ceilings the quote path is held against: PostgreSQL executing the hot
// statement (create_quote, one per quote) from pgbench, and a bare Fastify handler over the same
// loopback; and the latency at a tenth of the metered rate, where no batch forms. Beside the
// single-version runs (metering and rate limits on), the same configuration with a PricingModel
// experiment running (a pricing_model_splits row with a challenger at 10 %), alternated with them:
// the A/B's cost in throughput and p95 (goal: within 5 %).
//   npm run bench:quotes -- --duration 15 --connections 32 --tenants 8 --rounds 2
//   npm run bench:quotes -- --keyed     # every request with its own Idempotency-Key
import { execFile } from "node:child_process";
import { Agent, request as httpRequest } from "node:http";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import autocannon from "autocannon";
import { createPool } from "../app/db/pool.ts";
import { provisionDatabase } from "../tools/postgres/provision.ts";
import { provisionTenant } from "../app/db/seed.ts";
import { postgresBinDir, startPostgres } from "../tools/postgres/server.ts";
import { startAppProcess } from "./app-process.ts";
import { publishSplit } from "../tools/platform/pricing-rollout.ts";
import { DEFAULT_PRICING_MODEL } from "../app/pricing/pricing-splits.ts";
import type { ActiveSplit, PricingVersion } from "../app/pricing/model-version.ts";

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
    rounds: { type: "string", default: "2" },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const warmup = Number(values.warmup);
const tenantCount = Number(values.tenants);
const rounds = Number(values.rounds);

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
  rateLimiting: "on" | "off";
  requests: number;
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
  non2xx: number;
  errors: number;
}

const version = (name: string, linehaulMultiplier: number): PricingVersion => ({
  name,
  coefficients: { linehaulMultiplier, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
  guardrails: { minMarginPercent: 8, regionalCaps: [{ region: "west_coast", maxCentsPerMile: 900 }] },
});
/** An experiment as the PricingModel controller publishes it: 10 % of tenants on the challenger. */
const TEN_PERCENT_SPLIT: ActiveSplit = {
  model: DEFAULT_PRICING_MODEL,
  bucketVersion: 1,
  champion: version("bench-champion", 1),
  challenger: version("bench-challenger", 1.05),
  challengerWeight: 10,
};

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

async function load(
  url: string,
  apiKeys: string[],
  seconds: number,
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
    const instance = autocannon({ url, connections, duration: seconds, requests }, (error, result) =>
      error ? reject(error) : resolve({ times, result }),
    );
    // Per-response times, so the percentiles are exact (autocannon itself reports p90 and p97.5, not p95).
    instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode === 201) times.push(responseTime);
    });
  });
}

interface Sample {
  times: number[];
  non2xx: number;
  errors: number;
  seconds: number;
}

/**
 * An open-loop load at `rate` requests per second, evenly spaced (a request leaves on schedule whether
 * or not earlier ones have answered), over keep-alive connections: what a tenth of the load looks
 * like to the API. autocannon's overallRate releases each second's requests in a burst, which
 * measures its own queueing instead.
 */
async function paced(url: string, apiKey: string, rate: number, seconds: number): Promise<Sample> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const pickup = new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10);
  const body = JSON.stringify({
    origin: "Chicago, IL",
    destination: "Dallas, TX",
    equipment: "dry_van",
    weightLbs: 36_000,
    pickupDate: pickup,
  });
  const { hostname, port } = new URL(url);
  const times: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const request = httpRequest(
        {
          agent,
          hostname,
          port,
          method: "POST",
          path: "/v1/quotes",
          headers: {
            authorization: `Bearer ${apiKey}`,
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
          },
        },
        (response) => {
          response.resume();
          response.on("end", () => {
            if (response.statusCode === 201) times.push(performance.now() - started);
            else non2xx++;
            resolve();
          });
        },
      );
      request.on("error", () => {
        errors++;
        resolve();
      });
      request.end(body);
    });
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  const total = rate * seconds;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(one());
  }
  await Promise.all(inFlight);
  agent.destroy();
  return { times, non2xx, errors, seconds };
}

/**
 * One saturating run of a fresh process; with `tenthOfRate`, then a run offered a tenth of the rate
 * it reached (where no batch forms). `entry` may be the bare handler instead of the app.
 */
async function sample(
  metering: "on" | "off",
  rateLimiting: "on" | "off",
  env: Record<string, string>,
  apiKeys: string[],
  options: { entry?: string; tenthOfRate?: boolean } = {},
): Promise<Sample & { tenth?: Sample }> {
  const { url, child } = await startAppProcess(
    { ...env, METERING: metering, RATE_LIMITING: rateLimiting },
    options.entry,
  );
  try {
    await load(url, apiKeys, warmup);
    const { times, result } = await load(url, apiKeys, duration);
    const saturated = { times, non2xx: result.non2xx, errors: result.errors, seconds: duration };
    if (!options.tenthOfRate) return saturated;
    const rate = Math.max(1, Math.round(times.length / duration / 10));
    return { ...saturated, tenth: await paced(url, apiKeys[0]!, rate, duration) };
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
  }
}

function summarise(metering: "on" | "off", rateLimiting: "on" | "off", samples: Sample[]): RunResult {
  const times = samples.flatMap((s) => s.times).sort((a, b) => a - b);
  const seconds = samples.reduce((sum, s) => sum + s.seconds, 0);
  return {
    metering,
    rateLimiting,
    requests: times.length,
    throughput: Math.round(times.length / seconds),
    p50: round(percentile(times, 50)),
    p95: round(percentile(times, 95)),
    p99: round(percentile(times, 99)),
    non2xx: samples.reduce((sum, s) => sum + s.non2xx, 0),
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
  };
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
  // Above the offered load: the limiter does all its work (leases, headers) and refuses nothing.
  await operator.query(
    `INSERT INTO tenant_rate_limits (tenant_id, requests_per_second, burst, bulk_job_concurrency, source)
     SELECT id, 20000, 40000, 16, 'bench' FROM tenants WHERE slug LIKE 'bench-%'
     ON CONFLICT (tenant_id) DO UPDATE SET requests_per_second = 20000, burst = 40000, source = 'bench'`,
  );
  const env = { DATABASE_URL: durable.urls.app, DB_POOL_SIZE: "16" };
  const limitedOff: Sample[] = [];
  const limitedOn: Sample[] = [];
  const experiment: Sample[] = [];
  /** The production configuration with the 10 % experiment's row in place while its process runs. */
  const withExperiment = async () => {
    await publishSplit(operator, TEN_PERCENT_SPLIT, "bench");
    try {
      experiment.push(await sample("on", "on", env, apiKeys));
    } finally {
      await operator.query("DELETE FROM pricing_model_splits WHERE model = $1", [TEN_PERCENT_SPLIT.model]);
    }
  };
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so neither always runs on the warmer database.
    const order = r % 2 === 0 ? (["off", "on", "ab"] as const) : (["ab", "on", "off"] as const);
    for (const arm of order) {
      if (arm === "ab") await withExperiment();
      else (arm === "on" ? limitedOn : limitedOff).push(await sample("on", arm, env, apiKeys));
    }
  }
  await operator.end();
  const on = summarise("on", "off", limitedOff);
  const limited = summarise("on", "on", limitedOn);
  const ab = summarise("on", "on", experiment);
  const abThroughput = ab.throughput / limited.throughput - 1;
  const abP95 = ab.p95 / limited.p95 - 1;
  const off = summarise("off", "off", [await sample("off", "off", env, apiKeys)]);
  const atTenth = await sample("on", "on", env, apiKeys, { tenthOfRate: true });
  const tenth = summarise("on", "on", [atTenth.tenth!]);
  const bare = summarise("off", "off", [
    await sample("off", "off", env, apiKeys, { entry: "bench/bare-handler.ts" }),
  ]);
  const ceiling = await statementCeiling(durable.urls.app, tenantIds, 16);
  const cost = 1 - on.throughput / off.throughput;
  const limiterThroughput = limited.throughput / on.throughput - 1;
  const limiterP95 = limited.p95 / on.p95 - 1;
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  if (values.json) {
    console.log(
      JSON.stringify(
        {
          machine,
          duration,
          rounds,
          connections,
          runs: [on, limited, off],
          tenthOfRate: tenth,
          bareHandler: bare.throughput,
          statementCeiling: ceiling,
          meteringCost: cost,
          rateLimiting: { throughputChange: limiterThroughput, p95Change: limiterP95 },
          pricingExperiment: { run: ab, throughputChange: abThroughput, p95Change: abP95 },
        },
        null,
        2,
      ),
    );
  } else {
    console.log(
      `\nPOST /v1/quotes${values.keyed ? " with an Idempotency-Key each" : ""}, ${connections} connections, ${tenantCount} tenant(s), ${duration} s per run after ${warmup} s warm-up (rate limiting off/on and the 10 % experiment: ${rounds} run(s) each, alternated); ${machine}\n`,
    );
    console.log("metering  rate limits  quotes/s   p50 ms  p95 ms  p99 ms  non-2xx  errors");
    for (const r of [on, limited, off]) {
      console.log(
        `${r.metering.padEnd(8)}  ${r.rateLimiting.padEnd(11)}  ${String(r.throughput).padStart(8)}  ${String(r.p50).padStart(6)}  ${String(r.p95).padStart(6)}  ${String(r.p99).padStart(6)}  ${String(r.non2xx).padStart(7)}  ${String(r.errors).padStart(6)}`,
      );
    }
    const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)} %`;
    const within = limiterThroughput >= -0.1 && limiterP95 <= 0.1 && limited.non2xx === 0;
    console.log(
      `\nRate limiting on vs off (metering on): throughput ${pct(limiterThroughput)}, p95 ${pct(limiterP95)}; goal within 10 %: ${within ? "met" : "NOT met"}.`,
    );
    const abWithin = abThroughput >= -0.05 && abP95 <= 0.05 && ab.non2xx === 0;
    console.log(
      `Challenger at 10 % vs a single version (metering and rate limits on): ${ab.throughput}/s, p95 ${ab.p95} ms; throughput ${pct(abThroughput)}, p95 ${pct(abP95)}; goal within 5 %: ${abWithin ? "met" : "NOT met"}.`,
    );
    console.log(
      `At a tenth of the rate (metering and rate limits on, ${tenth.throughput}/s offered): p50 ${tenth.p50} ms, p95 ${tenth.p95} ms, p99 ${tenth.p99} ms.`,
    );
    const best = Math.max(on.throughput, limited.throughput);
    const ratio = best / ceiling;
    console.log(
      `Ceilings in this run: create_quote from pgbench (16 clients) ${ceiling}/s; a bare Fastify handler ${bare.throughput}/s.`,
    );
    console.log(
      `Metered quotes reach ${ratio.toFixed(2)}x the one-statement ceiling and ${(best / bare.throughput).toFixed(2)}x the bare handler.`,
    );
    console.log(`Metering costs ${(cost * 100).toFixed(1)} % of throughput (goal: at most 33 %).`);
    const goal = ratio >= 1 && on.p95 <= 25 && tenth.p95 <= 5;
    console.log(
      `Goal >= 1.0x the statement ceiling at p95 <= 25 ms, and p95 <= 5 ms at a tenth of that rate: ${goal ? "met" : "NOT met"}.`,
    );
  }
} finally {
  await durable.stop();
}
