// Connection pools and the per-transaction tenant context that row-level security keys on.
import pg from "pg";

// bigint counters arrive as strings by default; ours stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
// Dates are calendar days (pickup, invoice): keep them as YYYY-MM-DD, never shift them through a time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
  });
  // An idle client losing its server (failover, restart) must not crash the process; the pool replaces it.
  pool.on("error", () => undefined);
  return pool;
}

export type Db = pg.PoolClient;

/**
 * Runs `work` in one transaction whose row-level security context is `tenantId`. Everything the
 * callback reads or writes is confined to that tenant; on error the transaction rolls back whole.
 */
export async function withTenant<T>(
  pool: pg.Pool,
  tenantId: string,
  work: (db: Db) => Promise<T>,
): Promise<T> {
  return transaction(pool, async (db) => {
    await db.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    return work(db);
  });
}

export async function transaction<T>(pool: pg.Pool, work: (db: Db) => Promise<T>): Promise<T> {
  const db = await pool.connect();
  try {
    await db.query("BEGIN");
    const result = await work(db);
    await db.query("COMMIT");
    return result;
  } catch (error) {
    await db.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    db.release();
  }
}
