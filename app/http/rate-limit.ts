// Request rate limits: one token bucket per tenant (and per client address for the anonymous rate
// calculator), shared by every API replica of a region through PostgreSQL (migration 0010).
//
// The decision a reader would question: a replica does not ask the database per request. It leases
// a batch of tokens from the shared bucket (RATE_LIMIT_LEASE_MS worth of the bucket's rate) and spends
// them locally, fetching the next batch in the background before this one runs out; when the shared
// bucket is empty it denies locally until a batch has refilled. Every admitted request spent a token
// taken from the shared bucket, so a region never admits more than the bucket allows, whatever the
// number of replicas; a lease a replica cannot spend within LEASE_TTL_MS is dropped (under-admission
// of at most one batch per replica). Headers follow draft-ietf-httpapi-ratelimit-headers-12.
import type { FastifyReply } from "fastify";
import type pg from "pg";
import { Problem } from "./problem.ts";

export interface BucketLimits {
  requestsPerSecond: number;
  burst: number;
}

/** What the shared store answered: tokens granted now, tokens left in the shared bucket, its limits. */
export interface Lease {
  granted: number;
  tokensLeft: number;
  limits: BucketLimits;
}

/** Takes up to `want` tokens from bucket `key`; null when the bucket has no limits (unknown tenant). */
export type TakeTokens = (key: string, want: number) => Promise<Lease | null>;

export interface RateDecision {
  allowed: boolean;
  /** The draft's policy name: "tenant" or "address". */
  policy: string;
  limits: BucketLimits;
  /** Requests that would be admitted now (an estimate across replicas). */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** On a denial: seconds until a request can be admitted. */
  retryAfterSeconds: number;
}

/** Leased tokens are spent within this time or dropped, so a replica never hoards a burst. */
export const LEASE_TTL_MS = 1000;
/** After the store failed, requests are admitted without asking it for this long. */
const STORE_BACKOFF_MS = 1000;
const MAX_LOCAL_BUCKETS = 10_000;

interface LocalBucket {
  tokens: number;
  expiresAt: number;
  deniedUntil: number;
  limits: BucketLimits | null;
  sharedLeft: number;
  sharedAt: number;
  refill: Promise<void> | null;
  /** Requests of this replica waiting for a lease: a lease takes enough for all of them. */
  waiting: number;
}

export interface LeasedBucketsOptions {
  take: TakeTokens;
  leaseMs: number;
  /** Called when the store fails (read-only standby replica, database down): the request is admitted. */
  onStoreError(error: Error): void;
  now?: () => number;
}

/** The leased token buckets of one replica. */
export class LeasedBuckets {
  readonly #options: LeasedBucketsOptions;
  readonly #now: () => number;
  readonly #buckets = new Map<string, LocalBucket>();
  #storeFailedUntil = 0;

  constructor(options: LeasedBucketsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Spends one token of bucket `key` (policy `policy`): the decision, or null when the request is not
   * limited (no limits known for the key, or the store is failing).
   */
  async admit(policy: string, key: string): Promise<RateDecision | null> {
    const bucket = this.#bucket(key);
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.#now();
      if (bucket.tokens >= 1 && now < bucket.expiresAt) {
        bucket.tokens -= 1;
        const limits = bucket.limits as BucketLimits;
        const batch = batchSize(limits, this.#options.leaseMs);
        // Prefetch at half a batch, so a busy tenant never waits for the database.
        if (batch >= 2 && bucket.tokens < batch / 2 && !bucket.refill) void this.#refill(key, bucket);
        return decision(policy, bucket, true, now);
      }
      if (bucket.limits && now < bucket.deniedUntil) return decision(policy, bucket, false, now);
      if (now < this.#storeFailedUntil) return null;
      bucket.waiting += 1;
      try {
        await (bucket.refill ?? this.#refill(key, bucket));
      } finally {
        bucket.waiting -= 1;
      }
      if (!bucket.limits || this.#now() < this.#storeFailedUntil) return null;
    }
    // Others on this replica took each batch first: the tenant is at its limit.
    const now = this.#now();
    bucket.deniedUntil = Math.max(
      bucket.deniedUntil,
      now + 1000 / (bucket.limits as BucketLimits).requestsPerSecond,
    );
    return decision(policy, bucket, false, now);
  }

  #bucket(key: string): LocalBucket {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= MAX_LOCAL_BUCKETS) this.#evictIdle();
      bucket = {
        tokens: 0,
        expiresAt: 0,
        deniedUntil: 0,
        limits: null,
        sharedLeft: 0,
        sharedAt: 0,
        refill: null,
        waiting: 0,
      };
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Drops buckets with nothing leased and nothing pending; the shared bucket keeps their state. */
  #evictIdle(): void {
    const now = this.#now();
    for (const [key, b] of this.#buckets) {
      if (!b.refill && (b.tokens < 1 || now >= b.expiresAt) && now >= b.deniedUntil)
        this.#buckets.delete(key);
    }
  }

  #refill(key: string, bucket: LocalBucket): Promise<void> {
    // A batch, or as many as are waiting (a burst arriving at once); before the first lease the limits
    // are unknown and the store caps the grant at the burst.
    const batch = bucket.limits ? batchSize(bucket.limits, this.#options.leaseMs) : 1;
    const want = Math.max(batch, bucket.waiting);
    const refill = this.#options
      .take(key, want)
      .then(
        (lease) => {
          const now = this.#now();
          if (!lease) {
            bucket.limits = null;
            return;
          }
          if (now >= bucket.expiresAt) bucket.tokens = 0;
          bucket.limits = lease.limits;
          bucket.tokens += lease.granted;
          bucket.expiresAt = now + LEASE_TTL_MS;
          bucket.sharedLeft = lease.tokensLeft;
          bucket.sharedAt = now;
          if (lease.granted === 0) {
            // Empty: wait until a whole batch has refilled instead of asking again per request.
            const next = batchSize(lease.limits, this.#options.leaseMs);
            bucket.deniedUntil =
              now +
              (1000 * Math.max(1 - lease.tokensLeft, next - lease.tokensLeft)) /
                lease.limits.requestsPerSecond;
          }
        },
        (error: Error) => {
          this.#storeFailedUntil = this.#now() + STORE_BACKOFF_MS;
          this.#options.onStoreError(error);
        },
      )
      .finally(() => {
        bucket.refill = null;
      });
    bucket.refill = refill;
    return refill;
  }
}

/** Tokens per lease: the bucket's rate over the lease time, at least 1, at most the burst. */
export function batchSize(limits: BucketLimits, leaseMs: number): number {
  return Math.max(
    1,
    Math.min(Math.floor(limits.burst), Math.ceil((limits.requestsPerSecond * leaseMs) / 1000)),
  );
}

function decision(policy: string, bucket: LocalBucket, allowed: boolean, now: number): RateDecision {
  const limits = bucket.limits as BucketLimits;
  const rate = limits.requestsPerSecond;
  const refilled = bucket.sharedLeft + ((now - bucket.sharedAt) / 1000) * rate;
  const remaining = allowed ? Math.floor(Math.min(limits.burst, bucket.tokens + refilled)) : 0;
  return {
    allowed,
    policy,
    limits,
    remaining,
    resetSeconds: Math.ceil((limits.burst - remaining) / rate),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((bucket.deniedUntil - now) / 1000)),
  };
}

/** The shared store: take_request_tokens / take_tenant_request_tokens in one round trip each. */
export function postgresTakeTokens(pool: pg.Pool, addressLimits: BucketLimits): TakeTokens {
  return async (key, want) => {
    if (key.startsWith("tenant:")) {
      const { rows } = await pool.query<{
        granted: number;
        tokens_left: number;
        requests_per_second: number;
        burst: number;
      }>({
        name: "take-tenant-request-tokens",
        text: "SELECT * FROM take_tenant_request_tokens($1, $2)",
        values: [key.slice("tenant:".length), want],
      });
      const row = rows[0];
      return row
        ? {
            granted: row.granted,
            tokensLeft: row.tokens_left,
            limits: { requestsPerSecond: row.requests_per_second, burst: row.burst },
          }
        : null;
    }
    const { rows } = await pool.query<{ granted: number; tokens_left: number }>({
      name: "take-request-tokens",
      text: "SELECT * FROM take_request_tokens($1, $2, $3, $4)",
      values: [key, addressLimits.requestsPerSecond, addressLimits.burst, want],
    });
    const row = rows[0] as { granted: number; tokens_left: number };
    return { granted: row.granted, tokensLeft: row.tokens_left, limits: addressLimits };
  };
}

/**
 * The draft's fields: `RateLimit-Policy: "tenant";q=100;w=2` (q requests per w seconds: the burst,
 * refilled at the rate) and `RateLimit: "tenant";r=57;t=1` (r requests left, t seconds until full).
 */
export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  const window = Math.max(1, Math.ceil(d.limits.burst / d.limits.requestsPerSecond));
  return {
    "ratelimit-policy": `"${d.policy}";q=${d.limits.requestsPerSecond * window};w=${window}`,
    ratelimit: `"${d.policy}";r=${d.remaining};t=${d.resetSeconds}`,
  };
}

/** The 429 of a request rate limit; a meter's hard stop is `meter-limit-reached` (app/http/limits.ts). */
export function rateLimitedProblem(d: RateDecision, who: string, fix: string): Problem {
  return new Problem(
    {
      type: "rate-limited",
      title: "Too many requests",
      status: 429,
      detail:
        `${who} may send ${d.limits.requestsPerSecond} requests per second (bursts up to ${d.limits.burst}) ` +
        `and has sent more. Retry after ${d.retryAfterSeconds} s; ${fix}`,
      policy: d.policy,
      requestsPerSecond: d.limits.requestsPerSecond,
      burst: d.limits.burst,
      retryAfterSeconds: d.retryAfterSeconds,
    },
    { "retry-after": String(d.retryAfterSeconds), ...rateLimitHeaders(d) },
  );
}

/** Sets the RateLimit fields on an admitted request's reply, or throws the 429 problem. */
export function applyRateDecision(
  reply: FastifyReply,
  d: RateDecision | null,
  who: string,
  fix: string,
): void {
  if (!d) return;
  if (!d.allowed) throw rateLimitedProblem(d, who, fix);
  reply.headers(rateLimitHeaders(d));
}
