// npm run bench:failback [-- --scale 70]
// Failback of a ~1 GB database (pgbench -i -s 70): a primary and its streaming replica, the replica
// promoted, the old primary diverged and fenced (SIGQUIT, as an automatic flip leaves it), then
// rebuilt as a replica of the new primary through the failover driver: pg_rewind first, then the
// same rebuild with a fresh pg_basebackup. Each timed from the call to the replica streaming.
// Goal (issue 20): the old primary back as a replica <= 60 s for a 1 GB database.
import { execFile } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import pg from "pg";
import { PostgresDatabaseDriver } from "../operators/controllers/failover/drivers/postgres.ts";
import {
  rebuildDataDirectory,
  serverIdentity,
} from "../operators/controllers/failover/drivers/postgres-rebuild.ts";
import { postgresBinDir, startPostgres } from "../tools/postgres/server.ts";

const run = promisify(execFile);
const { values } = parseArgs({ options: { scale: { type: "string", default: "70" } } });
const scale = Number(values.scale);
const seconds = (since: number) => Math.round((Date.now() - since) / 100) / 10;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

async function query<R extends pg.QueryResultRow>(url: string, text: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

console.log(`load average at start: ${load()} (${cpus().length} CPUs)`);
const primary = await startPostgres({
  name: "bench-failback-primary",
  settings: { synchronous_commit: "on" },
});
let t = Date.now();
await run(join(postgresBinDir(), "pgbench"), ["-i", "-s", String(scale), "-q", primary.url()], {
  maxBuffer: 64 * 1024 * 1024,
});
const [{ size }] = (await query<{ size: string }>(
  primary.url(),
  "SELECT pg_size_pretty(pg_database_size('postgres')) AS size",
)) as [{ size: string }];
console.log(`pgbench -i -s ${scale}: ${size} in ${seconds(t)} s`);
t = Date.now();
const replica = await startPostgres({ name: "bench-failback-replica", replicaOf: primary });
console.log(`replica cloned in ${seconds(t)} s`);
const driver = new PostgresDatabaseDriver(
  { primary: primary.url(), secondary: replica.url() },
  { primary: primary.dataDir, secondary: replica.dataDir },
);
const pgCtl = async (...args: string[]) =>
  run(join(postgresBinDir(), "pg_ctl"), [...args, "-D", primary.dataDir], await serverIdentity());
try {
  await driver.promote("secondary");
  // Diverge: the old primary takes writes the new one never sees, the new one takes a load.
  await query(primary.url(), "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= 1000");
  await run(join(postgresBinDir(), "pgbench"), ["-T", "5", "-c", "2", "-n", replica.url()]);
  await driver.fence("primary");

  const loadBeforeRewind = load();
  t = Date.now();
  const rewound = await driver.rebuildReplica("primary");
  const rewindSeconds = seconds(t);
  console.log(
    `rebuild with ${rewound.method}: streaming after ${rewindSeconds} s (tool ${rewound.seconds} s); load ${loadBeforeRewind}`,
  );
  console.log(`  ${rewound.steps.join("\n  ")}`);

  await pgCtl("stop", "-m", "fast");
  const loadBeforeCopy = load();
  t = Date.now();
  const copied = await rebuildDataDirectory({
    dataDir: primary.dataDir,
    source: { host: "127.0.0.1", port: replica.port, user: "postgres", password: "local-superuser" },
    method: "pg_basebackup",
  });
  await pgCtl("start", "-w", "-t", "120", "-l", join(primary.dir, "failback.log"));
  const [{ streaming }] = (await query<{ streaming: boolean }>(
    primary.url(),
    "SELECT (SELECT status FROM pg_stat_wal_receiver) = 'streaming' AS streaming",
  )) as [{ streaming: boolean }];
  const copySeconds = seconds(t);
  console.log(
    `rebuild with ${copied.method}: started as a standby after ${copySeconds} s (copy ${copied.seconds} s, streaming ${streaming}); load ${loadBeforeCopy}`,
  );
  console.log(
    JSON.stringify({
      scale,
      size,
      rewind: { method: rewound.method, seconds: rewindSeconds, load: loadBeforeRewind },
      basebackup: { method: copied.method, seconds: copySeconds, load: loadBeforeCopy },
      loadAtEnd: load(),
    }),
  );
} finally {
  await pgCtl("stop", "-m", "immediate").catch(() => undefined);
  await driver.close();
  await replica.stop();
  await primary.stop();
}
process.exit(0);
