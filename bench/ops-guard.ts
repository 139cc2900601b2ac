// `npm run bench:ops-guard`: what the replica guard (migration 0035) costs freight_ops. On a throw-away
// primary and a streaming replica of it, as deployed (ops_guard.reads_on_primary off):
//   - per query: a one-row read of `plans` on the replica, sequentially, as freight_ops (guarded) and
//     as freight_operator (the same table, no guard), mean per query;
//   - per row: count(*) over --rows rows of runner_heartbeats on the replica, both roles, median;
//   - why the guard is IMMUTABLE: the same scan on the primary (reads_on_primary turned on for the
//     measurement) with the function as shipped and re-declared STABLE, which makes it a per-row filter.
//   npm run bench:ops-guard -- --queries 2000 --rows 200000
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import pg from "pg";
import { startPostgres } from "../tools/postgres/server.ts";
import { startTestDatabase } from "../tools/postgres/test-database.ts";

const { values } = parseArgs({
  options: {
    queries: { type: "string", default: "2000" },
    rows: { type: "string", default: "200000" },
    scans: { type: "string", default: "15" },
  },
});
const queries = Number(values.queries);
const rows = Number(values.rows);
const scans = Number(values.scans);

const db = await startTestDatabase({ seed: "plans", opsReadsOnPrimary: false });
const admin = db.urls.superuser.replace(/\/postgres$/, "/freight");
const run = async (url: string, sql: string) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
};
await run(
  admin,
  `INSERT INTO runner_heartbeats (runner_id, region, state)
     SELECT 'runner-' || i, 'us-east-1', 'running' FROM generate_series(1, ${rows}) AS i`,
);
await run(admin, "VACUUM ANALYZE runner_heartbeats");
const replica = await startPostgres({ name: "bench-ops-guard-replica", replicaOf: db.server });
const onReplica = (url: string) => {
  const u = new URL(url);
  u.port = String(replica.port);
  return u.toString();
};

/** Mean milliseconds per query over `n` sequential runs on one session, after a warm-up. */
async function perQuery(url: string, sql: string, n: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let i = 0; i < 50; i++) await client.query(sql);
    const started = performance.now();
    for (let i = 0; i < n; i++) await client.query(sql);
    return (performance.now() - started) / n;
  } finally {
    await client.end();
  }
}

/** Median milliseconds of `n` runs of `sql` on one session, after a warm-up. */
async function median(url: string, sql: string, n: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      await client.query(sql);
      times.push(performance.now() - started);
    }
    return times.sort((a, b) => a - b)[Math.floor(n / 2)]!;
  } finally {
    await client.end();
  }
}

const fmt = (ms: number) => `${ms.toFixed(3)} ms`;
try {
  const one = "SELECT name FROM plans ORDER BY name LIMIT 1";
  const scan = "SELECT count(*) FROM runner_heartbeats";
  const opsQuery = await perQuery(onReplica(db.urls.ops), one, queries);
  const operatorQuery = await perQuery(onReplica(db.urls.operator), one, queries);
  const opsScan = await median(onReplica(db.urls.ops), scan, scans);
  const operatorScan = await median(onReplica(db.urls.operator), scan, scans);

  await run(db.urls.owner, "UPDATE ops_guard SET reads_on_primary = true");
  const immutableScan = await median(db.urls.ops, scan, scans);
  await run(admin, "ALTER FUNCTION ops_reads_allowed() STABLE");
  const stableScan = await median(db.urls.ops, scan, scans);
  await run(admin, "ALTER FUNCTION ops_reads_allowed() IMMUTABLE");

  console.log(
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
  );
  console.log(`| measure | freight_ops (guarded) | freight_operator (no guard) |`);
  console.log(`| --- | --- | --- |`);
  console.log(
    `| one-row query on the replica, mean of ${queries} | ${fmt(opsQuery)} | ${fmt(operatorQuery)} |`,
  );
  console.log(
    `| count(*) of ${rows} rows on the replica, median of ${scans} | ${fmt(opsScan)} | ${fmt(operatorScan)} |`,
  );
  console.log(`\nThe same scan as freight_ops on the primary (reads_on_primary on for the measurement):`);
  console.log(`| guard declared | count(*) of ${rows} rows, median of ${scans} |`);
  console.log(`| --- | --- |`);
  console.log(`| IMMUTABLE (as shipped: folded while planning) | ${fmt(immutableScan)} |`);
  console.log(`| STABLE (a per-row filter) | ${fmt(stableScan)} |`);
} finally {
  await replica.stop();
  await db.stop();
}
