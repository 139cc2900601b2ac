// Connection pools and the per-transaction tenant context that row-level security keys on.
import pg from "pg";

import type { SecretValue } from "../secret-file.ts";

// bigint counters arrive as strings by default; ours stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
// Dates are calendar days (pickup, invoice): keep them as YYYY-MM-DD, never shift them through a time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

/**
 * A pool on `url`. Given a SecretValue read from a file (app/env.ts secretValue), every new
 * connection takes the URL the file holds at that moment: node-postgres builds one Client per new
 * connection, so after a rotation (the kubelet swaps the mounted Secret) new connections log in with
 * the new password and the open ones keep working until the pool retires them. No restart.
 */
export function createPool(
  url: string | SecretValue,
  max = 10,
  { connectionTimeoutMillis = 5_000 }: { connectionTimeoutMillis?: number } = {},
): pg.Pool {
  const pool = new pg.Pool({
    ...connectionOptions(url),
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis,
  });
  // An idle client losing its server (failover, restart) must not crash the process; the pool replaces it.
  pool.on("error", () => undefined);
  return pool;
}

/** Pool options connecting to `url`; a SecretValue is read again for every new connection. */
export function connectionOptions(url: string | SecretValue): pg.PoolConfig {
  if (typeof url === "string") return { connectionString: url };
  return { connectionString: url.read(), Client: rotatingClient(url) };
}

/** A Client class whose connection string is the secret's value when the pool opens a connection. */
function rotatingClient(secret: SecretValue): typeof pg.Client {
  return class extends pg.Client {
    constructor(config?: string | pg.ClientConfig) {
      super({ ...(typeof config === "object" ? config : {}), connectionString: secret.read() });
    }
  };
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
  // One round trip opens the transaction and sets its context (the simple protocol allows several
  // statements); the tenant id is a UUID from our own tables, quoted all the same.
  const begin = `BEGIN; SELECT set_config('app.tenant_id', ${pg.escapeLiteral(tenantId)}, true)`;
  return run(pool, begin, work);
}

export async function transaction<T>(pool: pg.Pool, work: (db: Db) => Promise<T>): Promise<T> {
  return run(pool, "BEGIN", work);
}

async function run<T>(pool: pg.Pool, begin: string, work: (db: Db) => Promise<T>): Promise<T> {
  const db = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client has no listener of the pool's: a server crash between two statements would
  // otherwise be an unhandled 'error' event that ends the process. The failed statement reports it.
  const onError = (error: Error) => {
    broken = error;
  };
  db.on("error", onError);
  try {
    await db.query(begin);
    const result = await work(db);
    await db.query("COMMIT");
    return result;
  } catch (error) {
    await db.query("ROLLBACK").catch((rollbackError: Error) => {
      broken = rollbackError; // the connection is unusable: do not return it to the pool
    });
    throw error;
  } finally {
    db.removeListener("error", onError);
    db.release(broken);
  }
}
