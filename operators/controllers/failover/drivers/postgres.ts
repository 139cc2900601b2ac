// Database driver for the local platform (and any self-managed PostgreSQL pair): a streaming
// physical replica, promoted with pg_promote(). Lag is exact: the WAL position the primary has
// written (pg_current_wal_lsn) against what the replica has replayed (pg_last_wal_replay_lsn).
// Transactions committed asynchronously (quotes) reach the write position within wal_writer_delay
// (200 ms); the runbook checks catch-up only after the write freeze has settled, so none is missed.
// Connects as a role allowed to call pg_promote (a superuser, or one granted EXECUTE on it).
// Failures are DriverErrors naming the region's database and the typed reason (permission denied,
// unreachable, ...), so the controller can tell on-call which one it is.
import pg from "pg";
import { connectionOptions } from "../../../../app/db/pool.ts";
import type { SecretValue } from "../../../../app/secret-file.ts";
import { otherRegion, type Region } from "../../../api/regionfailover.ts";
import { toDriverError } from "./errors.ts";
import type { DatabaseDriver, ReplicationState } from "./types.ts";

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

export class PostgresDatabaseDriver implements DatabaseDriver {
  private readonly pools: Record<Region, pg.Pool>;

  constructor(adminUrls: Record<Region, string | SecretValue>) {
    this.pools = regionPools(adminUrls);
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
      since_replay: number | null;
    }>(
      replica,
      "reading the replay position",
      `SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replayed,
              extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS since_replay`,
    );
    const row = rows[0]!;
    if (!row.in_recovery || !row.replayed) {
      // Not a replica (already promoted, or never one): nothing to catch up with.
      return { caughtUp: false, lagSeconds: undefined, lagBytes: undefined };
    }
    // A lost primary throws here: the lag is unknown, and the error says why (unreachable, refused).
    const source = await this.query<{ lsn: string }>(
      otherRegion(replica),
      "reading the WAL write position",
      "SELECT pg_current_wal_lsn()::text AS lsn",
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
    // The replay timestamp only says how long ago the last transaction replayed; with nothing left
    // to replay the replica is not behind at all, however quiet the primary has been.
    return { caughtUp, lagBytes, lagSeconds: caughtUp ? 0 : Math.max(0, row.since_replay ?? 0) };
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

  async close(): Promise<void> {
    await Promise.all([this.pools.primary.end(), this.pools.secondary.end()]);
  }
}
