// What the failover controller needs from the world, behind small interfaces so the same runbook
// drives a local PostgreSQL pair or AWS (RDS, Route 53). Chosen by configuration (config.ts).
// A driver that cannot answer throws (a DriverError from errors.ts where it can name the database
// and the reason); the reconciler falls back to the safe value and reports the failure in status.
import type { Region } from "../../../api/regionfailover.ts";
import type { RoutingState } from "../routing.ts";

export interface ReplicationState {
  /** Seconds the replica is behind; undefined when it is not a replica (the call throws when unreachable). */
  lagSeconds?: number;
  /** Bytes of WAL the replica has yet to replay; undefined when unknown. */
  lagBytes?: number;
  /** The replica has replayed everything its primary has written (a planned cutover needs this). */
  caughtUp: boolean;
}

/** What a failback rebuild did, for on-call's output and the runbook's log. */
export interface RebuildReport {
  /** pg_rewind, pg_basebackup, or the provider's equivalent (an RDS read replica). */
  method: string;
  /** Why the faster method was not used, when it was not. */
  fallbackReason?: string;
  /** The database that is (or is becoming) the replica: a data directory, or a new RDS instance. */
  replica: string;
  /** True when the replica streams from the other region now; false while the provider still builds it. */
  streaming: boolean;
  /** What was done, in order. */
  steps: string[];
  /** Seconds from the call to the replica streaming (or to the request being accepted). */
  seconds: number;
}

export interface DatabaseDriver {
  /** How far `replica`'s database is behind the other region's; throws when either cannot be asked. */
  replication(replica: Region): Promise<ReplicationState>;
  /** True when `region`'s database accepts writes (a primary, or a promoted replica); throws when unreachable. */
  isWritable(region: Region): Promise<boolean>;
  /** Promotes `region`'s replica to a standalone primary. One-shot: the controller guards it. */
  promote(region: Region): Promise<void>;
  /**
   * Fences `region`'s database so it never accepts a write again, also after a restart, and also
   * when it cannot be reached over SQL (through the provider or host, not the database itself).
   * Idempotent; returns how, for status. Completion is observed with isFenced, never assumed.
   */
  fence(region: Region): Promise<{ method: string }>;
  /** True only when the fence is confirmed in force; throws when that cannot be asked. */
  isFenced(region: Region): Promise<boolean>;
  /**
   * Failback: makes `region`'s database a streaming replica of the other region's, which must be a
   * primary (accepting writes). Destroys whatever `region`'s database wrote that the other never
   * received (the writes an unplanned flip lost), so only on-call asks for it, never the controller,
   * and the caller checks that `region` is not the one serving. Idempotent: a database already
   * streaming from the other region is left as it is.
   */
  rebuildReplica(region: Region): Promise<RebuildReport>;
  close(): Promise<void>;
}

export interface TrafficDriver {
  /** The routing state as `region`'s processes see it; rejects, saying why, when it cannot be read. */
  read(region: Region): Promise<RoutingState | undefined>;
  /** Makes the routing state so wherever it can be written; returns where it was written. */
  apply(routing: RoutingState, reason: string): Promise<Region[]>;
  close(): Promise<void>;
}
