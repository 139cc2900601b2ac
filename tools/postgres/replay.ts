// Waiting for a streaming replica to replay everything committed on its primary so far.
//
// The target is the primary's WAL insert position, not pg_current_wal_lsn() (the write position):
// with synchronous_commit off (the test servers, the app's quote path) a commit record can still sit
// in the WAL buffers, before the write position. An idle primary need not send what lies between
// the two at once (the WAL writer flushes a partly filled page for an asynchronous commit, not for
// every record), so while the replica is short of the target a synchronous commit on the primary
// (an xid assigned and committed, nothing else) every half second flushes everything before it.
// A replica that is not streaming still cannot get there: the error says where to look.
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

export async function waitForReplay(
  primaryUrl: string,
  replicaUrl: string,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const target = await value<string>(primaryUrl, "SELECT pg_current_wal_insert_lsn()::text AS value");
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
