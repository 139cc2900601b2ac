// api_keys.last_used_at without a write per request: each replica remembers the latest use of each key
// in memory and writes them every flush interval, one transaction for all keys (per tenant a
// set_config and one UPDATE, since row-level security confines each statement to one tenant). The
// column is therefore at most one interval (plus a replica's lifetime, on a crash) behind.
import type pg from "pg";
import { transaction } from "../db/pool.ts";
import type { Principal } from "./auth.ts";

export class KeyUsageRecorder {
  readonly #pool: pg.Pool;
  /** tenant id -> key id -> last use (ms). */
  #pending = new Map<string, Map<string, number>>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  // An SSO session has no key to stamp.
  record = (principal: Principal, at: number): void => {
    if (principal.keyId) this.#remember(principal.tenantId, principal.keyId, at);
  };

  #remember(tenantId: string, keyId: string, at: number): void {
    let keys = this.#pending.get(tenantId);
    if (!keys) this.#pending.set(tenantId, (keys = new Map()));
    if ((keys.get(keyId) ?? 0) < at) keys.set(keyId, at);
  }

  start(intervalMs: number, onError: (error: Error) => void): void {
    this.#timer = setInterval(() => {
      this.flush().catch(onError);
    }, intervalMs);
    this.#timer.unref();
  }

  /** Writes what was recorded since the last flush; a failed write puts it back for the next one. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing
      .catch(() => undefined)
      .then(async () => {
        const batch = this.#pending;
        if (batch.size === 0) return;
        this.#pending = new Map();
        try {
          await transaction(this.#pool, async (db) => {
            for (const [tenantId, keys] of batch) {
              await db.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
              await db.query(
                `UPDATE api_keys k SET last_used_at = u.at
                 FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at)
                WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`,
                [[...keys.keys()], [...keys.values()].map((ms) => new Date(ms).toISOString())],
              );
            }
          });
        } catch (error) {
          for (const [tenantId, keys] of batch)
            for (const [keyId, at] of keys) this.#remember(tenantId, keyId, at);
          throw error;
        }
      });
    return this.#flushing;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush().catch(() => undefined);
  }
}
