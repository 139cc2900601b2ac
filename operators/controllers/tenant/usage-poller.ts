// Usage changes in the database, not in the API server, so nothing watches it. Instead of
// re-reconciling every tenant on a timer (2,000 tenants = 2,000 transactions a minute), one query
// per interval finds the tenants whose usage counters moved since the last look, and only those
// are reconciled. A new day (daily meters reset) re-reconciles everyone once.
import type { Logger } from "pino";
import type pg from "pg";
import type { Tenant } from "../../api/tenant.ts";
import { sleep } from "../../runtime/backoff.ts";
import type { Informer } from "../../runtime/informer.ts";
import { keyOf, type ObjectKey } from "../../runtime/keys.ts";

export async function pollUsage(options: {
  pool: pg.Pool;
  tenants: Informer<Tenant>;
  enqueue: (key: ObjectKey) => void;
  intervalMs: number;
  signal: AbortSignal;
  log: Logger;
}): Promise<void> {
  const { pool, tenants, enqueue, intervalMs, signal, log } = options;
  // Watermark from the database's own clock, so the operator's clock never matters.
  let since: Date | undefined;
  let day: string | undefined;
  while (!signal.aborted) {
    try {
      const { rows: clock } = await pool.query<{ now: Date }>("SELECT now() AS now");
      const now = clock[0]!.now;
      const today = now.toISOString().slice(0, 10);
      if (since && day === today) {
        const { rows } = await pool.query<{ slug: string }>(
          `SELECT DISTINCT t.slug FROM usage_counters u JOIN tenants t ON t.id = u.tenant_id WHERE u.updated_at >= $1`,
          [since],
        );
        log.debug({ tenantsWithNewUsage: rows.length }, "usage poll");
        if (rows.length) {
          const bySlug = new Map(tenants.list().map((t) => [t.metadata.name, keyOf(t)]));
          for (const { slug } of rows) {
            const key = bySlug.get(slug);
            if (key) enqueue(key);
          }
        }
      } else if (since) {
        log.info({ day: today }, "new day: refreshing every tenant's usage");
        for (const tenant of tenants.list()) enqueue(keyOf(tenant));
      }
      // A counter updated in a transaction that commits after `now` was read carries an earlier
      // updated_at; looking back one interval more catches it on the next round.
      since = new Date(now.getTime() - intervalMs);
      day = today;
    } catch (error) {
      log.warn({ err: (error as Error).message }, "usage poll failed; retrying next interval");
    }
    await sleep(intervalMs, signal);
  }
}
