// Database driver for the local platform (and any self-managed PostgreSQL pair): a streaming
// physical replica, promoted with pg_promote(). Lag is exact: the WAL position the primary has
// written (pg_current_wal_lsn) against what the replica has replayed (pg_last_wal_replay_lsn).
// Transactions committed asynchronously (quotes) reach the write position within wal_writer_delay
// (200 ms); the runbook checks catch-up only after the write freeze has settled, so none is missed.
// Connects as a role allowed to call pg_promote (a superuser, or one granted EXECUTE on it).
// Failures are DriverErrors naming the region's database and the typed reason (permission denied,
// unreachable, ...), so the controller can tell on-call which one it is.
//
// Fencing goes through the host, not SQL: a lost primary cannot be asked anything, and nothing a
// SQL session can set (default_transaction_read_only, ALLOW_CONNECTIONS) both survives a restart
// and cannot be undone by a client or replicated to the replica about to be promoted. The host
// fence writes standby.signal into the data directory (a restarted server comes up in recovery:
// read-only, as Patroni and pg_auto_failover demote an old primary) and shuts the postmaster down
// at once (SIGQUIT: no backend commits after it). It is confirmed by looking, never assumed.
//
// Failback goes through the host too (postgres-rebuild.ts): the old primary is stopped cleanly,
// rewound with pg_rewind (or re-copied with pg_basebackup when it cannot be) into a replica of the
// new primary, and started again: with pg_ctl, or by the host's own supervisor (`start`).
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { connectionOptions } from "../../../../app/db/pool.ts";
import type { SecretValue } from "../../../../app/secret-file.ts";
import { otherRegion, type Region } from "../../../api/regionfailover.ts";
import { toDriverError } from "./errors.ts";
import {
  postgresBinDir,
  rebuildDataDirectory,
  runningPostmaster,
  serverIdentity,
  type ReplicaSource,
} from "./postgres-rebuild.ts";
import type { DatabaseDriver, RebuildReport, ReplicationState } from "./types.ts";

const run = promisify(execFile);

/** Each region's pool; a SecretValue (the mounted file) is re-read for every new connection. */
export function regionPools(urls: Record<Region, string | SecretValue>): Record<Region, pg.Pool> {
  const pool = (url: string | SecretValue) => {
    // Short timeouts: a lost primary must show up as "unreachable" within a reconcile, not hang it.
    const p = new pg.Pool({
      ...connectionOptions(url),
      max: 2,
      connectionTimeoutMillis: 2000,
      query_timeout: 5000,
      idleTimeoutMillis: 10_000,
    });
    p.on("error", () => undefined);
    return p;
  };
  return { primary: pool(urls.primary), secondary: pool(urls.secondary) };
}

export interface PostgresHostOptions {
  /**
   * Starts the rebuilt server on `dataDir` and resolves once it accepts connections. By default
   * pg_ctl starts it detached, logging to failback.log beside the data directory; a host that
   * supervises its servers (the local platform) starts it its own way.
   */
  start?: (region: Region, dataDir: string) => Promise<void>;
  /** Progress lines of a rebuild. */
  log?: (line: string) => void;
}

/** Host, port and login of a connection URL, for the tools that take them apart. */
function sourceOf(url: string): ReplicaSource {
  const parsed = new URL(url);
  return {
    host: decodeURIComponent(parsed.hostname),
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, "")) || "postgres",
  };
}

export class PostgresDatabaseDriver implements DatabaseDriver {
  private readonly pools: Record<Region, pg.Pool>;
  /** Per replica: the replay position it was last seen behind at, and since when it has not moved. */
  readonly #stalled = new Map<Region, { replayed: string; since: number }>();
  private readonly dataDirs: Partial<Record<Region, string>>;
  private readonly adminUrls: Record<Region, string | SecretValue>;
  private readonly host: PostgresHostOptions;

  /**
   * `dataDirs`: each region's data directory, where this process can reach the host (the local
   * platform); a region without one cannot be fenced, so an unplanned flip away from it holds.
   */
  constructor(
    adminUrls: Record<Region, string | SecretValue>,
    dataDirs: Partial<Record<Region, string>> = {},
    host: PostgresHostOptions = {},
  ) {
    this.pools = regionPools(adminUrls);
    this.dataDirs = dataDirs;
    this.adminUrls = adminUrls;
    this.host = host;
  }

  private dataDir(region: Region): string {
    const dir = this.dataDirs[region];
    if (!dir)
      throw new Error(
        `${region}'s database has no host fence: set FAILOVER_${region.toUpperCase()}_DB_DATA_DIR to its data directory (or use FAILOVER_DATABASE_DRIVER=rds); until then an unplanned flip away from it holds before promotion (or on-call sets spec.fenceOverride)`,
      );
    if (!existsSync(join(dir, "PG_VERSION")))
      throw new Error(
        `${dir} is not a PostgreSQL data directory (no PG_VERSION): check FAILOVER_${region.toUpperCase()}_DB_DATA_DIR`,
      );
    return dir;
  }

  async fence(region: Region): Promise<{ method: string }> {
    const dir = this.dataDir(region);
    // First the mark that survives a restart, then the stop: a restart in between comes up read-only.
    writeFileSync(join(dir, "standby.signal"), "");
    const pid = runningPostmaster(dir);
    if (pid !== undefined) {
      process.kill(pid, "SIGQUIT");
      const deadline = Date.now() + 10_000;
      while (runningPostmaster(dir) === pid && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return {
      method: `standby.signal written to ${dir}${pid !== undefined ? `; postmaster ${pid} shut down (immediate)` : "; no postmaster was running"}`,
    };
  }

  async isFenced(region: Region): Promise<boolean> {
    const dir = this.dataDir(region);
    if (!existsSync(join(dir, "standby.signal"))) return false;
    if (runningPostmaster(dir) === undefined) return true;
    // Running with the mark: fenced only if it is in recovery (it was restarted after the mark).
    return !(await this.isWritable(region));
  }

  private async query<R extends pg.QueryResultRow>(
    region: Region,
    attempted: string,
    text: string,
    values?: unknown[],
  ): Promise<R[]> {
    try {
      return (await this.pools[region].query<R>(text, values)).rows;
    } catch (error) {
      throw toDriverError(error, `${attempted} on ${region}'s database`);
    }
  }

  async replication(replica: Region): Promise<ReplicationState> {
    const rows = await this.query<{
      in_recovery: boolean;
      replayed: string | null;
    }>(
      replica,
      "reading the replay position",
      "SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replayed",
    );
    const row = rows[0]!;
    if (!row.in_recovery || !row.replayed) {
      // Not a replica (already promoted, or never one): nothing to catch up with.
      return { caughtUp: false, lagSeconds: undefined, lagBytes: undefined };
    }
    // A lost primary throws here: the lag is unknown, and the error says why (unreachable, refused).
    // The time since the last replayed transaction is no measure of lag: after a quiet minute, a
    // checkpoint record or the first write reads as a minute behind until it replays. Two honest
    // measures instead. replay_lag, the walsender's own: how long ago the WAL the standby has just
    // replayed was flushed on the primary (NULL when the admin role cannot see it or nothing was
    // sent lately; it stops updating while replay is stuck). And for a stuck replica, how long its
    // replay position has stood still while behind.
    const source = await this.query<{ lsn: string; replay_lag: number | null }>(
      otherRegion(replica),
      "reading the WAL write position",
      `SELECT pg_current_wal_lsn()::text AS lsn,
              (SELECT max(extract(epoch FROM replay_lag))::float8 FROM pg_stat_replication) AS replay_lag`,
    );
    const written = source[0]!.lsn;
    const diff = await this.query<{ bytes: string }>(
      replica,
      "comparing WAL positions",
      "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text AS bytes",
      [written, row.replayed],
    );
    const lagBytes = Math.max(0, Number(diff[0]!.bytes));
    const caughtUp = lagBytes === 0;
    if (caughtUp) {
      this.#stalled.delete(replica);
      return { caughtUp, lagBytes, lagSeconds: 0 };
    }
    const now = Date.now();
    const last = this.#stalled.get(replica);
    const stalled = last?.replayed === row.replayed ? last : { replayed: row.replayed, since: now };
    this.#stalled.set(replica, stalled);
    const standingStill = (now - stalled.since) / 1000;
    return { caughtUp, lagBytes, lagSeconds: Math.max(source[0]!.replay_lag ?? 0, standingStill) };
  }

  /** Throws when the database cannot be asked; the controller counts that as not writable. */
  async isWritable(region: Region): Promise<boolean> {
    const rows = await this.query<{ writable: boolean }>(
      region,
      "checking for writes",
      "SELECT NOT pg_is_in_recovery() AS writable",
    );
    return rows[0]!.writable;
  }

  async promote(region: Region): Promise<void> {
    const rows = await this.query<{ promoted: boolean }>(
      region,
      "promoting",
      "SELECT pg_promote(true, 60) AS promoted",
    );
    if (!rows[0]?.promoted) {
      throw new Error(
        `pg_promote() on ${region}'s database did not finish within 60 s; check its log, then let the controller retry (it promotes only while the database is still a replica)`,
      );
    }
  }

  async rebuildReplica(region: Region): Promise<RebuildReport> {
    const started = Date.now();
    const other = otherRegion(region);
    const dir = this.dataDir(region);
    const url = this.adminUrls[other];
    const source = sourceOf(typeof url === "string" ? url : url.read());
    if (!(await this.isWritable(other)))
      throw new Error(
        `${other}'s database is itself a replica: a replica can only be rebuilt from a primary. Flip to ${other} first (its promotion makes it the primary), then rebuild ${region}.`,
      );
    if (runningPostmaster(dir) !== undefined) {
      const streaming = await this.streamingFrom(region, source).catch(() => false);
      if (streaming)
        return {
          method: "none",
          replica: dir,
          streaming: true,
          steps: [`${region}'s database already streams from ${other}'s: nothing to do`],
          seconds: 0,
        };
    }
    const steps: string[] = [];
    const pid = runningPostmaster(dir);
    if (pid !== undefined) {
      // A fast shutdown ends the sessions and writes a shutdown checkpoint: a clean stop for pg_rewind.
      await PostgresDatabaseDriver.stopPostmaster(dir);
      steps.push(`postmaster ${pid} stopped (fast shutdown)`);
    }
    // The pool's sessions to the old server are gone; new ones reach the rebuilt server.
    let rebuilt = await rebuildDataDirectory({ dataDir: dir, source, log: this.host.log });
    steps.push(...rebuilt.steps);
    const start = this.host.start ?? PostgresDatabaseDriver.pgCtlStart;
    await start(region, dir);
    steps.push("server started as a standby");
    let streaming = await this.waitStreaming(
      region,
      source,
      rebuilt.method === "pg_rewind" ? 20_000 : 60_000,
    );
    if (!streaming.ok && rebuilt.method === "pg_rewind") {
      // A rewound standby that replays past the fork cannot follow the new timeline (pg_rewind
      // trusted a stale control file on the source; rebuildDataDirectory checkpoints the source
      // first so it should not). A fresh copy always streams; say why it was needed.
      const reason = `the rewound server did not stream from ${other}'s within 20 s (${streaming.seen})`;
      steps.push(reason);
      await PostgresDatabaseDriver.stopPostmaster(dir);
      rebuilt = await rebuildDataDirectory({
        dataDir: dir,
        source,
        method: "pg_basebackup",
        log: this.host.log,
      });
      rebuilt.fallbackReason = reason;
      steps.push(...rebuilt.steps);
      await start(region, dir);
      steps.push("server started as a standby");
      streaming = await this.waitStreaming(region, source, 60_000);
    }
    if (!streaming.ok)
      throw new Error(
        `${region}'s rebuilt database did not start streaming from ${other}'s within 60 s: check its log (is the new primary's WAL since the rebuild still there?); it says ${streaming.seen}`,
      );
    steps.push(`streaming from ${source.host}:${source.port}`);
    return {
      method: rebuilt.method,
      ...(rebuilt.fallbackReason ? { fallbackReason: rebuilt.fallbackReason } : {}),
      replica: dir,
      streaming: true,
      steps,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  }

  /** Waits for `region`'s database to stream from `source`; says what it saw when it does not. */
  private async waitStreaming(
    region: Region,
    source: ReplicaSource,
    timeoutMs: number,
  ): Promise<{ ok: boolean; seen: string }> {
    const deadline = Date.now() + timeoutMs;
    let seen = "";
    for (;;) {
      const ok = await this.streamingFrom(region, source).catch((error: Error) => {
        seen = error.message;
        return false;
      });
      if (ok) return { ok, seen };
      if (Date.now() > deadline) {
        const receiver = await this.query<{ status: string | null; tli: number | null }>(
          region,
          "reading the WAL receiver",
          "SELECT (SELECT status FROM pg_stat_wal_receiver) AS status, (SELECT received_tli FROM pg_stat_wal_receiver) AS tli",
        ).catch(() => undefined);
        const r = receiver?.[0];
        return {
          ok,
          seen: r ? `WAL receiver ${r.status ?? "not running"} on timeline ${r.tli ?? "?"}` : seen,
        };
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private static async stopPostmaster(dir: string): Promise<void> {
    const pid = runningPostmaster(dir);
    if (pid === undefined) return;
    process.kill(pid, "SIGINT");
    const deadline = Date.now() + 60_000;
    while (runningPostmaster(dir) === pid) {
      if (Date.now() > deadline)
        throw new Error(
          `postmaster ${pid} in ${dir} did not stop within 60 s of a fast shutdown; check its log`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** True when `region`'s database is in recovery with its WAL receiver streaming from `source`. */
  private async streamingFrom(region: Region, source: ReplicaSource): Promise<boolean> {
    const rows = await this.query<{ status: string | null; sender_port: number | null }>(
      region,
      "reading the WAL receiver",
      `SELECT (SELECT status FROM pg_stat_wal_receiver) AS status,
              (SELECT sender_port FROM pg_stat_wal_receiver) AS sender_port
        WHERE pg_is_in_recovery()`,
    );
    const row = rows[0];
    return row?.status === "streaming" && row.sender_port === source.port;
  }

  private static async pgCtlStart(_region: Region, dataDir: string): Promise<void> {
    const identity = await serverIdentity();
    await run(
      join(postgresBinDir(), "pg_ctl"),
      ["start", "-D", dataDir, "-w", "-t", "120", "-l", join(dirname(dataDir), "failback.log")],
      { ...identity, cwd: dirname(dataDir) },
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.pools.primary.end(), this.pools.secondary.end()]);
  }
}
