// Failback for a self-managed PostgreSQL pair: turns the old primary's data directory into a
// streaming replica of the new primary, in place (same directory, same configuration, same port).
//
// pg_rewind first: it copies only the blocks that changed since the two histories diverged, so a
// large database comes back in seconds. It needs the old primary to have run with wal_log_hints
// (or data checksums), the new primary to run with full_page_writes, the old primary's WAL since
// the last common checkpoint, and a cleanly shut down target: a crashed or fenced one (the host
// fence stops it with SIGQUIT) is first recovered by pg_rewind itself in single-user mode, which
// refuses to run while standby.signal is there, so the fence's mark is lifted for that moment and
// put back at the end whatever happens (the directory never starts writable). When pg_rewind
// cannot be used, a fresh pg_basebackup is taken beside the old directory and swapped in only
// once complete, so a failed copy leaves the old data where it was.
//
// The directory's own postgresql.auto.conf (port, sockets, memory) is kept: both tools copy the
// source's configuration files, which name the source's port. primary_conninfo and standby.signal
// are written last. The server is not started here; the caller (driver or platform) does.
import { execFile } from "node:child_process";
import { chownSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export type RebuildMethod = "pg_rewind" | "pg_basebackup";

export interface RebuildResult {
  /** How the directory became a replica. */
  method: RebuildMethod;
  /** Why pg_rewind was not used (its own error, or that a base backup was asked for). */
  fallbackReason?: string;
  /** What was done, in order, for status and the on-call log. */
  steps: string[];
  /** Seconds the rewind or copy took (the server start and catch-up are the caller's). */
  seconds: number;
}

/** The new primary, as the rebuilt replica connects to it (a role with REPLICATION, superuser for pg_rewind). */
export interface ReplicaSource {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Database pg_rewind connects to. */
  database?: string;
}

export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  const fromEnv = process.env.PG_BIN_DIR;
  if (fromEnv) return fromEnv;
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "postgres")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (!newest) {
    throw new Error(
      "PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin. " +
        "Install them with `apt-get install -y postgresql` or set PG_BIN_DIR to the directory holding initdb and postgres.",
    );
  }
  return join(root, newest, "bin");
}

/** The uid/gid to run server binaries as: the `postgres` user when we are root, ourselves otherwise. */
export async function serverIdentity(): Promise<{ uid?: number; gid?: number }> {
  if (userInfo().uid !== 0) return {};
  const { stdout: uid } = await run("id", ["-u", "postgres"]).catch(() => {
    throw new Error(
      "Running as root, but there is no `postgres` system user to run PostgreSQL as. Install the `postgresql` package (it creates the user).",
    );
  });
  const { stdout: gid } = await run("id", ["-g", "postgres"]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

/** The postmaster's pid from its data directory, when one is running there. */
export function runningPostmaster(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  } catch {
    return undefined;
  }
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** "Database cluster state" from pg_controldata: "shut down", "in production", "in crash recovery", ... */
export async function clusterState(dataDir: string): Promise<string> {
  const identity = await serverIdentity();
  const { stdout } = await run(join(postgresBinDir(), "pg_controldata"), ["-D", dataDir], identity);
  return /Database cluster state:\s*(.+)/.exec(stdout)?.[1]?.trim() ?? "unknown";
}

const quote = (value: string) => `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

function conninfo(source: ReplicaSource, extra: Record<string, string> = {}): string {
  return Object.entries({
    host: source.host,
    port: String(source.port),
    user: source.user,
    password: source.password,
    ...extra,
  })
    .map(([k, v]) => `${k}=${quote(v)}`)
    .join(" ");
}

/** The last meaningful line a tool printed, for a reason on status. */
function lastLine(error: unknown): string {
  const e = error as { stderr?: string; message?: string };
  const lines = (e.stderr || e.message || String(error))
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.filter((l) => /fatal|error|could not|must|needs/i.test(l)).pop() ?? lines.pop() ?? "failed";
}

export interface RebuildOptions {
  dataDir: string;
  source: ReplicaSource;
  /** "auto" (pg_rewind, base backup when it cannot) or force a base backup (the benchmark). */
  method?: "auto" | "pg_basebackup";
  log?: (line: string) => void;
}

/**
 * Rewinds (or re-copies) a stopped PostgreSQL data directory into a streaming replica of `source`.
 * Refuses while a postmaster runs in it: stop it first (a fast shutdown is clean).
 */
export async function rebuildDataDirectory(options: RebuildOptions): Promise<RebuildResult> {
  const { dataDir, source } = options;
  const log = options.log ?? (() => undefined);
  if (!existsSync(join(dataDir, "PG_VERSION")))
    throw new Error(`${dataDir} is not a PostgreSQL data directory (no PG_VERSION)`);
  const pid = runningPostmaster(dataDir);
  if (pid !== undefined)
    throw new Error(
      `a postmaster (pid ${pid}) still runs in ${dataDir}: stop it before rebuilding (pg_ctl stop -m fast)`,
    );
  const bin = postgresBinDir();
  const identity = await serverIdentity();
  const asServerUser = (file: string, args: string[]) =>
    run(join(bin, file), args, {
      ...identity,
      env: { ...process.env, PGPASSWORD: source.password, PGCONNECT_TIMEOUT: "10" },
      maxBuffer: 16 * 1024 * 1024,
    });
  const own = (path: string) => {
    if (identity.uid !== undefined && identity.gid !== undefined) chownSync(path, identity.uid, identity.gid);
  };
  const started = Date.now();
  const steps: string[] = [];
  const autoConf = join(dataDir, "postgresql.auto.conf");
  // The directory's own settings, without any earlier replica's connection.
  const ownSettings = existsSync(autoConf)
    ? readFileSync(autoConf, "utf8")
        .split("\n")
        .filter((line) => !/^\s*(primary_conninfo|primary_slot_name)\s*=/.test(line))
        .join("\n")
        .trimEnd() + "\n"
    : "";

  let method: RebuildMethod = "pg_basebackup";
  let fallbackReason: string | undefined =
    options.method === "pg_basebackup" ? "a base backup was asked for" : undefined;
  let dir = dataDir;
  try {
    if (options.method !== "pg_basebackup") {
      const state = await clusterState(dataDir).catch((error) => `unreadable (${lastLine(error)})`);
      if (state !== "shut down" && state !== "shut down in recovery")
        steps.push(`cluster state "${state}": pg_rewind runs crash recovery in single-user mode first`);
      // Single-user mode refuses to start a standby; the mark is back in place at the end.
      for (const signal of ["standby.signal", "recovery.signal"])
        rmSync(join(dataDir, signal), { force: true });
      const sourceConninfo = conninfo(source, { dbname: source.database ?? "postgres" }).replace(
        / password='[^']*'/,
        "",
      );
      // A just-promoted primary writes its first checkpoint on the new timeline at leisure (a
      // spread checkpoint), and until then its control file still names the old timeline: pg_rewind
      // reads it, sees both servers on one timeline and answers "no rewind required", and the old
      // primary, whose shutdown checkpoint lies past the fork, then never follows the new timeline
      // ("new timeline forked off ... before current recovery point"). The pg_rewind documentation
      // asks for a CHECKPOINT on a recently promoted source first.
      try {
        await asServerUser("psql", ["-X", "-q", "-d", sourceConninfo, "-c", "CHECKPOINT"]);
        steps.push(`checkpoint on ${source.host}:${source.port}, so its control file names its timeline`);
      } catch (error) {
        steps.push(
          `CHECKPOINT on ${source.host}:${source.port} failed (${lastLine(error)}); pg_rewind may misread its timeline`,
        );
      }
      log(`pg_rewind ${dataDir} from ${source.host}:${source.port}`);
      try {
        const { stdout, stderr } = await asServerUser("pg_rewind", [
          "--target-pgdata",
          dataDir,
          "--source-server",
          sourceConninfo,
        ]);
        method = "pg_rewind";
        steps.push(
          /no rewind required/.test(stdout + stderr)
            ? "pg_rewind: no rewind required (the histories had not diverged)"
            : "pg_rewind: copied the blocks changed since the histories diverged",
        );
      } catch (error) {
        fallbackReason = `pg_rewind failed: ${lastLine(error)}`;
        steps.push(fallbackReason);
        log(fallbackReason);
      }
    }
    if (method === "pg_basebackup") {
      // Copy beside the old directory; swap only once the copy is whole.
      const fresh = `${dataDir}.rebuild`;
      rmSync(fresh, { recursive: true, force: true });
      log(`pg_basebackup into ${fresh} from ${source.host}:${source.port}`);
      try {
        await asServerUser("pg_basebackup", [
          "-h",
          source.host,
          "-p",
          String(source.port),
          "-U",
          source.user,
          "-D",
          fresh,
          "-X",
          "stream",
          "--checkpoint=fast",
        ]);
      } catch (error) {
        rmSync(fresh, { recursive: true, force: true });
        throw new Error(`pg_basebackup from ${source.host}:${source.port} failed: ${lastLine(error)}`);
      }
      const old = `${dataDir}.old`;
      rmSync(old, { recursive: true, force: true });
      renameSync(dataDir, old);
      renameSync(fresh, dataDir);
      rmSync(old, { recursive: true, force: true });
      dir = dataDir;
      steps.push("pg_basebackup: a fresh copy of the new primary replaced the data directory");
    }
    writeFileSync(
      autoConf,
      // wal_log_hints on: the next failback of this server can be a rewind too.
      `${ownSettings}wal_log_hints = on\nprimary_conninfo = ${quote(conninfo(source, { application_name: "failback" }))}\n`,
    );
    own(autoConf);
  } finally {
    // Whatever happened, the directory comes up read-only: a replica, or still fenced.
    const standby = join(dir, "standby.signal");
    writeFileSync(standby, "");
    own(standby);
  }
  return { method, fallbackReason, steps, seconds: Math.round((Date.now() - started) / 100) / 10 };
}
