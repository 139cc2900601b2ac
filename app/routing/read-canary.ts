// The read canary in the quote API: while this region is active and the routing row's readCanary
// weight is above 0, that percent of canary-eligible reads run their tenant transaction on the
// standby region's replica (READ_CANARY_DATABASE_URL) instead of the serving database. Every write
// stays on the serving database: only GET/HEAD on routes marked with readCanaryRoute() are eligible.
//
// Per request, deterministic: a request's bucket is a hash of its request id, so the share is
// exact at any weight however few or large the tenants are (a per-tenant cohort would be whole
// tenants, 1/12 steps with twelve customers, and one big tenant would move the share alone).
//
// Read-your-writes: a tenant that wrote through this process within READ_CANARY_FRESH_SECONDS reads
// from the serving database, so "create a quote, read it back" never meets the lag. Across API
// replicas the bound is the gate's: the failover controller sets the weight to 0 once the replica is
// more than readCanary.maxReplicationLagSeconds behind (5 s by default, below the fresh window).
// Routes whose answer must be fresh (anything that decides a write: booking, metering, limits) are
// simply never marked eligible.
//
// A canary read that fails on the replica (unreachable, cancelled by recovery conflict) is run again
// on the serving database: the canary must never cost a user an error; the fallback is counted.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from "fastify";
import type pg from "pg";
import type { AppConfig } from "../config.ts";
import { withTenant, type Db } from "../db/pool.ts";
import { Problem } from "../http/problem.ts";
import type { AppMetrics } from "../observability/metrics.ts";
import { peerRole, type RegionRole } from "../region.ts";
import { ACTIVE_REGION_HEADER } from "./router.ts";
import type { RegionRouting } from "./state.ts";

/** Names the region role of the database that answered (primary or secondary). */
export const DATABASE_HEADER = "freight-database";

const READ_METHODS = new Set(["GET", "HEAD"]);

declare module "fastify" {
  interface FastifyContextConfig {
    /** The route only reads and tolerates replication lag: the read canary may answer it. */
    readCanary?: boolean;
  }
  interface FastifyRequest {
    /** Set when the read canary's replica answered this request's tenant transaction. */
    canaryServed?: boolean;
  }
}

/** Marks a read-only, lag-tolerant route as eligible for the read canary. */
export function readCanaryRoute<T extends RouteShorthandOptions & { config?: object }>(options: T): T {
  return { ...options, config: { ...options.config, readCanary: true } };
}

/** The request's canary bucket, 0-99: FNV-1a of its id, so the same request always lands alike. */
export function canaryBucket(requestId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < requestId.length; i++) {
    hash ^= requestId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % 100;
}

export type ReadCanaryConfig = Pick<AppConfig, "REGION_ROLE" | "READ_CANARY_FRESH_SECONDS">;

export class ReadCanary {
  private readonly config: ReadCanaryConfig;
  private readonly primary: pg.Pool;
  private readonly replica: pg.Pool | undefined;
  private readonly metrics: AppMetrics;
  private readonly routing: () => RegionRouting;
  /** Tenant id -> when it last wrote through this process (ms); pruned as it is written. */
  private readonly lastWrite = new Map<string, number>();

  constructor(options: {
    config: ReadCanaryConfig;
    /** This region's database: every write, and every read the canary does not take. */
    pool: pg.Pool;
    /** The standby region's replica; without it the canary never serves. */
    replica: pg.Pool | undefined;
    metrics: AppMetrics;
    routing: () => RegionRouting;
  }) {
    this.config = options.config;
    this.primary = options.pool;
    this.replica = options.replica;
    this.metrics = options.metrics;
    this.routing = options.routing;
  }

  /** The published weight this process applies: 0 when standby or without a replica to read. */
  weight(): number {
    const routing = this.routing();
    if (!this.replica || routing.activeRegion !== this.config.REGION_ROLE) return 0;
    return routing.readCanaryWeight;
  }

  /** Whether this request's tenant transaction goes to the replica. */
  chooses(request: FastifyRequest, tenantId: string): boolean {
    if (!READ_METHODS.has(request.method) || !request.routeOptions.config.readCanary) return false;
    const weight = this.weight();
    if (weight <= 0) return false;
    const wrote = this.lastWrite.get(tenantId);
    if (wrote !== undefined && Date.now() - wrote < this.config.READ_CANARY_FRESH_SECONDS * 1000)
      return false;
    return canaryBucket(request.id) < weight;
  }

  /** Runs `work` as the tenant on the database this request reads from. */
  async asTenant<T>(request: FastifyRequest, tenantId: string, work: (db: Db) => Promise<T>): Promise<T> {
    if (!this.chooses(request, tenantId)) return withTenant(this.primary, tenantId, work);
    try {
      const result = await withTenant(this.replica!, tenantId, work);
      request.canaryServed = true;
      return result;
    } catch (error) {
      // A problem is the answer (404, 422): the replica answered it. Anything else is the replica's.
      if (error instanceof Problem) {
        request.canaryServed = true;
        throw error;
      }
      this.metrics.readCanaryFallbacks.inc();
      request.log.warn(
        { err: error },
        "read canary: the standby replica failed; reading from the serving database",
      );
      return withTenant(this.primary, tenantId, work);
    }
  }

  /** The role of the database that answered `request`. */
  database(request: FastifyRequest): RegionRole {
    return request.canaryServed ? peerRole(this.config.REGION_ROLE) : this.config.REGION_ROLE;
  }

  /** Header, metric and the read-your-writes record, on every /v1 answer. */
  register(app: FastifyInstance, tenantOf: (request: FastifyRequest) => string | undefined): void {
    app.addHook("onSend", async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      if (!request.routeOptions.url?.startsWith("/v1/")) return payload;
      // The router answered (frozen, redirected), not a database: there is nothing to name.
      if (reply.hasHeader(ACTIVE_REGION_HEADER)) return payload;
      reply.header(DATABASE_HEADER, this.database(request));
      // Before the answer leaves: the client's next read may follow it at once.
      const tenant = tenantOf(request);
      if (!READ_METHODS.has(request.method) && reply.statusCode < 300 && tenant) this.noteWrite(tenant);
      return payload;
    });
    app.addHook("onResponse", async (request: FastifyRequest, reply: FastifyReply) => {
      if (!request.routeOptions.url?.startsWith("/v1/") || reply.statusCode >= 300) return;
      const kind = READ_METHODS.has(request.method) ? "read" : "write";
      this.metrics.dbRequestsServed.inc({ database: this.database(request), kind });
    });
  }

  private noteWrite(tenantId: string): void {
    const now = Date.now();
    this.lastWrite.delete(tenantId); // re-inserted last: the map stays ordered by write time
    this.lastWrite.set(tenantId, now);
    const horizon = now - this.config.READ_CANARY_FRESH_SECONDS * 1000;
    for (const [tenant, at] of this.lastWrite) {
      if (at >= horizon) break;
      this.lastWrite.delete(tenant);
    }
  }
}
