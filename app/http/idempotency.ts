// Idempotency-Key on POSTs: the first answer is stored in the same transaction as its effects, so a
// retry replays it and counts the meter once. A concurrent retry waits on the key's row lock.
// Durability: create_quote commits without waiting for the WAL flush (throughput), and a stored answer
// shares its transaction. So a keyed answer, first or replayed, is acknowledged only after
// waitUntilDurable: after a crash the client either has no answer (and its retry runs afresh) or the
// answer it has replays identically. Unkeyed quotes keep their asynchronous commit.
import { createHash } from "node:crypto";
import type pg from "pg";
import type { Db } from "../db/pool.ts";
import { Problem } from "./problem.ts";

export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export function idempotencyKeyFrom(
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  const value = headers["idempotency-key"];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !KEY_PATTERN.test(value)) {
    throw new Problem({
      type: "invalid-idempotency-key",
      title: "Invalid Idempotency-Key",
      status: 400,
      detail: "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces, e.g. a UUID.",
    });
  }
  return value;
}

export function requestFingerprint(route: string, body: unknown): string {
  return createHash("sha256")
    .update(route)
    .update("\n")
    .update(JSON.stringify(body ?? null))
    .digest("hex");
}

/**
 * Claims `key` for this request. Returns the stored response when the key was used before with the
 * same request; throws 422 when it was used with a different one.
 */
export async function claimIdempotencyKey(
  db: Db,
  key: string,
  route: string,
  fingerprint: string,
): Promise<StoredResponse | undefined> {
  const claimed = await db.query(
    `INSERT INTO idempotency_keys (tenant_id, key, route, request_hash)
     VALUES (current_tenant_id(), $1, $2, $3) ON CONFLICT (tenant_id, key) DO NOTHING`,
    [key, route, fingerprint],
  );
  if (claimed.rowCount === 1) return undefined;
  const { rows } = await db.query<{ request_hash: string; status_code: number | null; response: unknown }>(
    "SELECT request_hash, status_code, response FROM idempotency_keys WHERE tenant_id = current_tenant_id() AND key = $1",
    [key],
  );
  const row = rows[0];
  if (!row || row.request_hash !== fingerprint || row.status_code === null) {
    throw new Problem({
      type: "idempotency-key-reused",
      title: "Idempotency-Key reused",
      status: 422,
      detail:
        "This Idempotency-Key was already used for a different request. Use a new key for a new request, or resend the original request unchanged.",
    });
  }
  return { statusCode: row.status_code, body: row.response };
}

export async function storeIdempotentResponse(db: Db, key: string, response: StoredResponse): Promise<void> {
  await db.query(
    "UPDATE idempotency_keys SET status_code = $2, response = $3 WHERE tenant_id = current_tenant_id() AND key = $1",
    [key, response.statusCode, JSON.stringify(response.body)],
  );
}

/**
 * Returns once every commit that had happened when it was called is flushed to the WAL on disk (and
 * to synchronous standbys, if any): it commits a transaction of its own with synchronous_commit on,
 * and a flush reaches every earlier commit record. Concurrent callers share one flush (group commit),
 * and no row lock is held while waiting, unlike committing the quote's own transaction synchronously
 * (which would serialise a tenant's quotes on disk latency behind its usage row).
 * The transaction must write WAL to be flushed at commit (PostgreSQL commits a transaction that wrote
 * none asynchronously, even with an xid): a transactional logical message is the smallest such write,
 * needs no table and no privilege, and logical decoding consumers can ignore its prefix.
 */
export async function waitUntilDurable(pool: pg.Pool): Promise<void> {
  await pool.query({
    name: "wait-until-durable",
    text: "SELECT set_config('synchronous_commit', 'on', true), pg_logical_emit_message(true, 'freight-durable', '')",
  });
}
