// `npm run bench:rate-limits`: one tenant's request rate limit enforced by several API replicas of one
// region. Starts --replicas app processes (RATE_LIMITING=on, as the stacks run them) on one PostgreSQL,
// sets the tenant's limit in tenant_rate_limits as the rate-limit controller does, and sends POST
// /v1/quotes open-loop at --overload times the limit, round-robin across the replicas. It reports the
// admitted rate after the first --settle seconds (when the burst is spent) against the limit; the goal
// is within +-10 %. Loopback only; it stops by itself after --settle + --duration seconds.
//   npm run bench:rate-limits -- --replicas 3 --limit 100 --overload 4 --duration 10
import { once } from "node:events";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { createPool } from "../app/db/pool.ts";
import { provisionTenant } from "../app/db/seed.ts";
import { quoteBody } from "../tools/platform/api-client.ts";
import { provisionDatabase } from "../tools/postgres/provision.ts";
import { startPostgres } from "../tools/postgres/server.ts";
import { startAppProcess } from "./app-process.ts";

const { values } = parseArgs({
  options: {
    replicas: { type: "string", default: "3" },
    limit: { type: "string", default: "100" },
    overload: { type: "string", default: "4" },
    settle: { type: "string", default: "2" },
    duration: { type: "string", default: "10" },
    json: { type: "boolean", default: false },
  },
});
const replicas = Number(values.replicas);
const limit = Number(values.limit);
const offered = limit * Number(values.overload);
const settle = Number(values.settle);
const duration = Number(values.duration);

const database = await provisionDatabase({
  seed: "plans",
  server: await startPostgres({ name: "ratelimit" }),
});
const apps: Awaited<ReturnType<typeof startAppProcess>>[] = [];
try {
  const operator = createPool(database.urls.operator, 2);
  const tenant = await provisionTenant(operator, { slug: "drill", name: "Drill", planId: "enterprise" });
  await operator.query(
    `INSERT INTO tenant_rate_limits (tenant_id, requests_per_second, burst, bulk_job_concurrency, source)
     VALUES ($1, $2, $2, 4, 'drill')
     ON CONFLICT (tenant_id) DO UPDATE SET requests_per_second = $2, burst = $2, source = 'drill'`,
    [tenant.tenantId, limit],
  );
  await operator.end();
  for (let i = 0; i < replicas; i++)
    apps.push(
      await startAppProcess({ DATABASE_URL: database.urls.app, RATE_LIMITING: "on", DB_POOL_SIZE: "8" }),
    );

  const body = JSON.stringify(quoteBody());
  const headers = { authorization: `Bearer ${tenant.apiKey}`, "content-type": "application/json" };
  const sent: { at: number; status: number }[] = [];
  const pending: Promise<void>[] = [];
  let firstError: string | undefined;
  // The replicas' own count of admissions (rate_limit_decisions_total), read at the end of the settle
  // time and of the run: the admitted rate as the limiter decided it, whatever the client's queueing.
  const admittedByReplicas = async (): Promise<{ at: number; count: number }> => {
    const counts = await Promise.all(
      apps.map(async (app) => {
        const text = await (await fetch(`${app.url}/metrics`)).text();
        const line = /^rate_limit_decisions_total\{policy="tenant",decision="admitted"\} (\d+)/m.exec(text);
        return Number(line?.[1] ?? 0);
      }),
    );
    return { at: performance.now(), count: counts.reduce((a, b) => a + b, 0) };
  };
  let settled: Promise<{ at: number; count: number }> | undefined;
  const start = performance.now();
  const total = Math.round(offered * (settle + duration));
  // Open loop: request i leaves at i / offered seconds whatever the answers, as clients over their
  // limit do; each request is bounded by a timeout.
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / offered;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const app = apps[i % replicas] as (typeof apps)[number];
    const at = (performance.now() - start) / 1000;
    if (at >= settle) settled ??= admittedByReplicas();
    pending.push(
      fetch(`${app.url}/v1/quotes`, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) })
        .then(async (response) => {
          await response.arrayBuffer();
          sent.push({ at, status: response.status });
        })
        .catch((error: Error) => {
          firstError ??= `${error.message}: ${String((error.cause as Error | undefined)?.message ?? "")}`;
          sent.push({ at, status: 0 });
        }),
    );
  }
  const ended = await admittedByReplicas();
  const began = await (settled as Promise<{ at: number; count: number }>);
  const decidedRate = (ended.count - began.count) / ((ended.at - began.at) / 1000);
  const decidedError = decidedRate / limit - 1;
  await Promise.all(pending);
  const window = sent.filter((s) => s.at >= settle && s.at < settle + duration);
  const admitted = window.filter((s) => s.status === 201).length;
  const refused = window.filter((s) => s.status === 429).length;
  const failed = window.length - admitted - refused;
  // Anything else by status (0: no answer within the timeout, or the connection failed).
  const failures: Record<string, number> = {};
  for (const s of window)
    if (s.status !== 201 && s.status !== 429) failures[s.status] = (failures[s.status] ?? 0) + 1;
  const admittedRate = admitted / duration;
  const error = admittedRate / limit - 1;
  const sentRate = window.length / duration;
  const machine = `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
  if (values.json) {
    console.log(
      JSON.stringify(
        {
          machine,
          load,
          replicas,
          limit,
          offered,
          sentRate,
          decidedRate,
          decidedError,
          admittedRate,
          error,
          refused,
          failed,
          failures,
        },
        null,
        2,
      ),
    );
  } else {
    console.log(
      `\n${replicas} replicas, one tenant limited to ${limit}/s (burst ${limit}), offered ${offered}/s (sent ${sentRate.toFixed(0)}/s) for ${settle}+${duration} s; ${machine}; load average ${load}`,
    );
    console.log(
      `the replicas admitted ${decidedRate.toFixed(1)}/s from ${settle} s to the end (${(decidedError * 100).toFixed(1)} % from the limit; their rate_limit_decisions_total)`,
    );
    console.log(
      `the client saw ${admittedRate.toFixed(1)}/s over the last ${duration} s (${(error * 100).toFixed(1)} % from the limit), refused ${refused} with 429, failed ${failed} ${JSON.stringify(failures)}${firstError ? ` (first: ${firstError})` : ""}`,
    );
    console.log(
      `Goal admitted rate within +-10 % of the limit (as the replicas decided): ${Math.abs(decidedError) <= 0.1 ? "met" : "NOT met"}.`,
    );
  }
} finally {
  for (const app of apps) {
    app.child.kill("SIGTERM");
    await once(app.child, "exit");
  }
  await database.stop();
}
