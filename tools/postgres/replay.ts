// Waiting for a streaming replica to replay everything committed on its primary so far.
//
// The target is the primary's WAL insert position, not pg_current_wal_lsn() (the write position):
// with synchronous_commit off (the test servers, the app's quote path) a commit record can still sit
// in the WAL buffers, before the write position. But an idle primary may never send what lies
// between the two: the WAL writer flushes a partly filled page only for an asynchronous commit, so
// a record inserted after the last one (the bgwriter's running-transactions record) can wait there
// until the next commit. While the replica is short of the target, a synchronous commit on the
// primary (an xid assigned and committed, nothing else) every half second flushes everything before
// it, so the wait always ends.
import pg from "pg";

async function value<T>(url: string, text: string): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ value: T }>(text)).rows[0]!.value;
  } finally {
    await client.end();
  }
}

/** A transaction that commits synchronously: WAL is flushed through its commit record. */
async function commitSynchronously(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET synchronous_commit = on");
    await client.query("SELECT txid_current()");
  } finally {
    await client.end();
  }
}

/**
 * `upTo: "write"` waits for the primary's write position instead: what a rebuilt replica must have
 * before it is handed out (the failback drill then waits for it to stream, FailbackReady). The
 * insert position there twice held the failback game day for 30 s in CI on a loaded machine, with
 * the synchronous commits below; why the rebuilt replica did not reach it is not known yet.
 */
export async function waitForReplay(
  primaryUrl: string,
  replicaUrl: string,
  options: { timeoutMs?: number; upTo?: "insert" | "write" } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const position = options.upTo === "write" ? "pg_current_wal_lsn()" : "pg_current_wal_insert_lsn()";
  const target = await value<string>(primaryUrl, `SELECT ${position}::text AS value`);
  const deadline = Date.now() + timeoutMs;
  let nextFlush = Date.now() + 500;
  while (
    !(await value<boolean>(replicaUrl, `SELECT pg_last_wal_replay_lsn() >= '${target}'::pg_lsn AS value`))
  ) {
    if (Date.now() > deadline)
      throw new Error(
        `the replica did not replay the primary's WAL up to ${target} in ${timeoutMs / 1000} s: is it streaming? (pg_stat_wal_receiver on the replica)`,
      );
    if (Date.now() >= nextFlush) {
      await commitSynchronously(primaryUrl);
      nextFlush = Date.now() + 500;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
