// The zero-downtime migration game day: an expand/contract rename on a table written and read on
// every request (tools/gameday/migration-drill), applied by the real migrations runner
// (app/db/migrate.ts) one step at a time while clients keep writing and reading, and while two
// releases of the app (tools/gameday/migration-app.ts) serve side by side through each rolling deploy:
//   v1 | expand (add column) | concurrent index | v1+v2 | v2 | backfill | v2+v3 | v3
//      | require new, release old | v3+v4 | v4 | contract (drop old)
// A failed request is any answer but 201/200, a network error, or a read that returns another weight
// than the one written. The goal is zero. Before it runs, the migration check (app/db/migration-check.ts)
// judges each step against the SQL of the releases serving beside it, as CI does for app/db/migrations.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import pg from "pg";
import { provisionDatabase } from "../postgres/provision.ts";
import { migrate, migrationNames } from "../../app/db/migrate.ts";
import { checkMigration, type MigrationProblem } from "../../app/db/migration-check.ts";
import { upSection } from "../../app/db/migration-sql.ts";
import {
  DRILL_MIGRATIONS_TABLE,
  RELEASES,
  startDrillApp,
  type DrillApp,
  type DrillVersion,
} from "./migration-app.ts";
import { percentile } from "./load.ts";

export const DRILL_MIGRATIONS_DIR = join(import.meta.dirname, "migration-drill");
const TENANTS = ["00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"];

export interface MigrationDrillOptions {
  /** Seconds each phase (a version serving alone, or two side by side) runs under load. */
  phaseSeconds?: number;
  /** Concurrent clients. */
  concurrency?: number;
  log?: (line: string) => void;
}

interface Outcome {
  at: number;
  ms: number;
  op: "write" | "read";
  version?: string;
  phase: string;
  failure?: string;
}

export interface MigrationDrillReport {
  scenario: "migration";
  startedAt: string;
  machine: { cpus: number; cpuModel: string; node: string };
  durationSeconds: number;
  requests: { total: number; writes: number; reads: number; failed: number; p95Ms: number; maxMs: number };
  /** The first failures, with the phase they happened in. */
  failures: { phase: string; op: string; version?: string; failure: string }[];
  /** Requests answered by each release: every release served, and two at once during each deploy. */
  servedBy: Record<string, number>;
  phases: { name: string; seconds: number; requests: number; failed: number; p95Ms: number; maxMs: number }[];
  /** Each migration step: how long the runner took, and whether it ran outside a transaction. */
  migrations: { name: string; seconds: number; outsideTransaction: boolean }[];
  /** What the migration check said about each step against the releases beside it (empty: all safe). */
  checkProblems: MigrationProblem[];
  /** Rows written before the drill and during it, all readable through the new column at the end. */
  rows: { total: number; withoutNewColumn: number };
  /** A shipment read with another tenant's id: 404 under row-level security, at the end. */
  crossTenantRead: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The releases that serve beside each drill migration while it runs (what it must not break). */
export const SERVING_BESIDE: Record<string, DrillVersion[]> = {
  "0002_expand_gross_weight": ["v1"],
  "0003_index_gross_weight": ["v1"],
  "0004_backfill_gross_weight": ["v2"],
  "0005_gross_weight_required": ["v3"],
  "0006_contract_weight_pounds": ["v4"],
};

/** The migration check of every drill step against the SQL of the releases serving beside it. */
export function checkDrillMigrations(): MigrationProblem[] {
  let earlier = "";
  const problems: MigrationProblem[] = [];
  for (const name of migrationNames(DRILL_MIGRATIONS_DIR)) {
    const sql = readFileSync(join(DRILL_MIGRATIONS_DIR, `${name}.sql`), "utf8");
    const sources = (SERVING_BESIDE[name] ?? []).map((version) => ({
      path: `tools/gameday/migration-app.ts (${version})`,
      text: `${RELEASES[version].insert}\n${RELEASES[version].select}`,
    }));
    problems.push(...checkMigration(name, sql, { sources, earlier, hotTables: ["drill_shipments"] }));
    earlier += `\n${upSection(sql)}`;
  }
  return problems;
}

/**
 * The Service in front of the releases: round-robin over the instances in rotation. It counts the
 * requests it has handed to each instance, so one leaves only once nothing sent to it is still on the
 * way (what endpoint removal plus a preStop pause do in a cluster).
 */
class Rotation {
  private instances: DrillApp[] = [];
  private readonly dispatched = new Map<DrillApp, number>();
  private next = 0;
  add(app: DrillApp) {
    this.instances.push(app);
  }
  async drain(app: DrillApp) {
    this.instances = this.instances.filter((a) => a !== app);
    while ((this.dispatched.get(app) ?? 0) > 0 || app.inFlight() > 0) await sleep(10);
  }
  async send<T>(work: (app: DrillApp) => Promise<T>): Promise<T> {
    const app = this.instances[this.next++ % this.instances.length]!;
    this.dispatched.set(app, (this.dispatched.get(app) ?? 0) + 1);
    try {
      return await work(app);
    } finally {
      this.dispatched.set(app, this.dispatched.get(app)! - 1);
    }
  }
  versions(): string {
    return this.instances.map((a) => a.version).join("+");
  }
}

export async function runMigrationGameDay(
  options: MigrationDrillOptions = {},
): Promise<MigrationDrillReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const phaseMs = (options.phaseSeconds ?? 3) * 1000;
  const startedAt = new Date();
  const checkProblems = checkDrillMigrations();

  const db = await provisionDatabase({ seed: "none", name: "migration-drill" });
  const apps: DrillApp[] = [];
  const rotation = new Rotation();
  const outcomes: Outcome[] = [];
  const written: { id: string; tenant: string; weight: number }[] = [];
  const migrations: MigrationDrillReport["migrations"] = [];
  const phases: { name: string; from: number; to: number }[] = [];
  let phase = "v1 baseline";
  let stopped = false;

  const migrateStep = async () => {
    const t0 = performance.now();
    const [name] = await migrate(db.urls.owner, () => undefined, {
      dir: DRILL_MIGRATIONS_DIR,
      migrationsTable: DRILL_MIGRATIONS_TABLE,
      count: 1,
    });
    const sql = readFileSync(join(DRILL_MIGRATIONS_DIR, `${name!}.sql`), "utf8");
    const seconds = (performance.now() - t0) / 1000;
    migrations.push({
      name: name!,
      seconds,
      outsideTransaction: /^--!\s*no-transaction\s*$/im.test(upSection(sql)),
    });
    log(`  applied ${name!} in ${seconds.toFixed(2)} s while ${rotation.versions()} served`);
  };
  const start = async (version: DrillVersion) => {
    const app = await startDrillApp(db.urls.app, version);
    apps.push(app);
    // A rolling deploy sends traffic to a pod once it is ready: its schema is there.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const answer = await fetch(`${app.url}/readyz`);
      const text = await answer.text();
      if (answer.status === 200) break;
      if (Date.now() > deadline)
        throw new Error(`release ${version} not ready after 30 s (its schema is not there?): ${text}`);
      await sleep(100);
    }
    rotation.add(app);
    return app;
  };
  const retire = async (app: DrillApp) => {
    await rotation.drain(app);
    await app.stop();
    apps.splice(apps.indexOf(app), 1);
  };
  const runPhase = async (name: string) => {
    phase = name;
    const from = Date.now();
    await sleep(phaseMs);
    phases.push({ name, from, to: Date.now() });
  };
  /** v(old) x2 -> old+new -> new x2: one replaced at a time, the way a Deployment's surge rolls. */
  const rollingDeploy = async (from: DrillVersion, to: DrillVersion) => {
    const old = apps.filter((a) => a.version === from);
    await start(to);
    await retire(old[0]!);
    await runPhase(`${from}+${to} side by side`);
    await start(to);
    await retire(old[1]!);
    await runPhase(`${to}`);
  };

  /** One request through the rotation; its outcome says what the user saw. */
  const request = (read: boolean, tenant: string) =>
    rotation.send(async (app): Promise<Pick<Outcome, "version" | "failure">> => {
      const signal = AbortSignal.timeout(10_000);
      if (read) {
        const row = written[Math.floor(Math.random() * written.length)]!;
        const response = await fetch(`${app.url}/shipments/${row.id}`, {
          headers: { "x-tenant-id": row.tenant },
          signal,
        });
        const answer = (await response.json()) as { weightLbs?: number; detail?: string };
        const version = response.headers.get("drill-version") ?? undefined;
        if (response.status !== 200) return { version, failure: `GET ${response.status}: ${answer.detail}` };
        if (answer.weightLbs !== row.weight)
          return { version, failure: `read ${answer.weightLbs} lbs, wrote ${row.weight} lbs` };
        return { version };
      }
      const id = randomUUID();
      const weight = 1000 + Math.floor(Math.random() * 44_000);
      const response = await fetch(`${app.url}/shipments/${id}`, {
        method: "PUT",
        headers: { "x-tenant-id": tenant, "content-type": "application/json" },
        body: JSON.stringify({ weightLbs: weight }),
        signal,
      });
      const answer = (await response.json()) as { detail?: string };
      const version = response.headers.get("drill-version") ?? undefined;
      if (response.status !== 201) return { version, failure: `PUT ${response.status}: ${answer.detail}` };
      written.push({ id, tenant, weight });
      return { version };
    });

  const client = async (index: number) => {
    let i = index;
    while (!stopped) {
      i++;
      const read = i % 3 === 0 && written.length > 0;
      const outcome: Outcome = { at: Date.now(), ms: 0, op: read ? "read" : "write", phase };
      const t0 = performance.now();
      try {
        Object.assign(outcome, await request(read, TENANTS[i % 2]!));
      } catch (error) {
        const cause = (error as Error & { cause?: Error }).cause;
        outcome.failure = `${(error as Error).message}${cause ? ` (${cause.message})` : ""}`;
      }
      outcome.ms = performance.now() - t0;
      outcomes.push(outcome);
      await sleep(5);
    }
  };

  try {
    await migrateStep();
    await start("v1");
    await start("v1");
    log(`migration drill: ${options.concurrency ?? 4} clients, ${phaseMs / 1000} s a phase`);
    const clients = Array.from({ length: options.concurrency ?? 4 }, (_, i) => client(i));
    const t0 = Date.now();
    await runPhase("v1 baseline");
    phase = "expand and index under v1";
    await migrateStep(); // 0002 expand
    await migrateStep(); // 0003 concurrent index
    await rollingDeploy("v1", "v2");
    phase = "backfill under v2";
    await migrateStep(); // 0004 backfill
    await rollingDeploy("v2", "v3");
    phase = "require new column under v3";
    await migrateStep(); // 0005
    await rollingDeploy("v3", "v4");
    phase = "contract under v4";
    await migrateStep(); // 0006 drop
    await runPhase("v4 after contract");
    stopped = true;
    await Promise.all(clients);
    const durationSeconds = (Date.now() - t0) / 1000;

    const owner = new pg.Client({ connectionString: db.urls.owner });
    await owner.connect();
    const rows = await owner
      .query<{ total: number; missing: number }>(
        "SELECT count(*)::int AS total, count(*) FILTER (WHERE gross_weight_lbs IS NULL)::int AS missing FROM drill_shipments",
      )
      .finally(() => owner.end());
    const probe = written[0]!;
    const other = TENANTS.find((t) => t !== probe.tenant)!;
    const crossTenantRead = await rotation.send((app) =>
      fetch(`${app.url}/shipments/${probe.id}`, { headers: { "x-tenant-id": other } }).then((r) => r.status),
    );

    const failed = outcomes.filter((o) => o.failure);
    const ms = outcomes.map((o) => o.ms);
    const servedBy: Record<string, number> = {};
    for (const o of outcomes) if (o.version) servedBy[o.version] = (servedBy[o.version] ?? 0) + 1;
    const phaseNames = [...new Set(outcomes.map((o) => o.phase))];
    return {
      scenario: "migration",
      startedAt: startedAt.toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", node: process.version },
      durationSeconds,
      requests: {
        total: outcomes.length,
        writes: outcomes.filter((o) => o.op === "write").length,
        reads: outcomes.filter((o) => o.op === "read").length,
        failed: failed.length,
        p95Ms: percentile(ms, 95),
        maxMs: Math.max(0, ...ms),
      },
      failures: failed
        .slice(0, 10)
        .map((o) => ({ phase: o.phase, op: o.op, version: o.version, failure: o.failure! })),
      servedBy,
      phases: phaseNames.map((name) => {
        const inPhase = outcomes.filter((o) => o.phase === name);
        const span = phases.find((p) => p.name === name);
        const times = inPhase.map((o) => o.ms);
        return {
          name,
          seconds: span
            ? (span.to - span.from) / 1000
            : (Math.max(...inPhase.map((o) => o.at)) - Math.min(...inPhase.map((o) => o.at))) / 1000,
          requests: inPhase.length,
          failed: inPhase.filter((o) => o.failure).length,
          p95Ms: percentile(times, 95),
          maxMs: Math.max(0, ...times),
        };
      }),
      migrations,
      checkProblems,
      rows: { total: rows.rows[0]!.total, withoutNewColumn: rows.rows[0]!.missing },
      crossTenantRead,
    };
  } finally {
    stopped = true;
    for (const app of [...apps]) await app.stop().catch(() => undefined);
    await db.stop();
  }
}

export function formatMigrationReport(report: MigrationDrillReport): string {
  const r = report.requests;
  const lines = [
    `migration game day (${report.machine.cpus} CPUs, ${report.machine.node})`,
    `  requests ${r.total} (${r.writes} writes, ${r.reads} reads), failed ${r.failed}, p95 ${r.p95Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms, over ${report.durationSeconds.toFixed(1)} s`,
    `  served by ${Object.entries(report.servedBy)
      .map(([v, n]) => `${v} ${n}`)
      .join(", ")}`,
    ...report.phases.map(
      (p) =>
        `  ${p.name.padEnd(30)} ${String(p.requests).padStart(6)} requests, ${p.failed} failed, p95 ${p.p95Ms.toFixed(1)} ms, max ${p.maxMs.toFixed(1)} ms`,
    ),
    ...report.migrations.map(
      (m) =>
        `  ${m.name.padEnd(30)} ${m.seconds.toFixed(2)} s${m.outsideTransaction ? " (outside a transaction)" : ""}`,
    ),
    `  rows ${report.rows.total}, without the new column ${report.rows.withoutNewColumn}; cross-tenant read answered ${report.crossTenantRead}`,
    `  migration check: ${report.checkProblems.length ? report.checkProblems.map((p) => `${p.migration}: ${p.reason}`).join("; ") : "every step safe beside the releases serving"}`,
    ...report.failures.map((f) => `  FAILED ${f.phase} ${f.op} ${f.version ?? "?"}: ${f.failure}`),
  ];
  return lines.join("\n");
}

/** `npm run gameday -- --scenario migration [--out report.json]`: runs the drill, prints and writes it. */
export async function migrationScenario(out?: string): Promise<never> {
  const report = await runMigrationGameDay({ phaseSeconds: 5 });
  console.log(formatMigrationReport(report));
  const path = resolve(out ?? join(import.meta.dirname, "..", "..", ".cache", "gameday", "migration.json"));
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${path}`);
  process.exit(report.requests.failed === 0 && report.checkProblems.length === 0 ? 0 : 1);
}
