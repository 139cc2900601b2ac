// A database host loss for crash-consistency tests: kill -9 of a throw-away PostgreSQL's postmaster and
// every backend and auxiliary process it started (nothing gets to flush or shut down), then a restart on
// the same data directory and port, which runs crash recovery from the WAL.
// Only processes whose parent is the server's own postmaster are signalled, each by its pid.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { postgresBinDir, type PostgresServer } from "./server.ts";

const run = promisify(execFile);

/** Pids of the processes whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name is in parentheses and may hold spaces; the parent pid is the 2nd field after it.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === pid) children.push(Number(entry));
    } catch {
      /* the process ended meanwhile */
    }
  }
  return children;
}

/** Still running: it exists and is not a zombie waiting for a parent (maybe init) to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** The running postmaster of a server (first start or a restart). */
export interface Postmaster {
  process: ChildProcess;
}

/** SIGKILL to the postmaster and all its children at once; returns when every one of them is gone. */
export async function crashPostgres(postmaster: Postmaster): Promise<number> {
  const pid = postmaster.process.pid;
  if (pid === undefined || postmaster.process.exitCode !== null || postmaster.process.signalCode !== null)
    throw new Error("the PostgreSQL server to crash is not running");
  const children = childrenOf(pid);
  // Backends first, so none notices its postmaster's death and exits on its own terms.
  for (const child of [...children, pid]) {
    try {
      process.kill(child, "SIGKILL");
    } catch (error) {
      // A backend that ended between the listing and the kill is as good as killed.
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }
  const deadline = Date.now() + 10_000;
  const running = () => postmaster.process.exitCode === null && postmaster.process.signalCode === null;
  while (running() || children.some(alive)) {
    if (Date.now() > deadline)
      throw new Error(`PostgreSQL processes ${children.join(", ")} survived SIGKILL`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return children.length + 1;
}

/** Starts PostgreSQL again on the crashed server's data directory and port (crash recovery runs first). */
export async function restartPostgres(
  server: PostgresServer,
): Promise<Postmaster & { stop(): Promise<void> }> {
  const identity =
    userInfo().uid === 0
      ? {
          uid: Number((await run("id", ["-u", "postgres"])).stdout.trim()),
          gid: Number((await run("id", ["-g", "postgres"])).stdout.trim()),
        }
      : {};
  const child = spawn(join(postgresBinDir(), "postgres"), ["-D", server.dataDir], {
    ...identity,
    cwd: server.dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-8000)));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    await exited;
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`PostgreSQL did not restart after the crash:\n${log}`);
    const client = new pg.Client({ connectionString: server.url() });
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      break;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`PostgreSQL did not accept connections within 60 s of the restart:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { process: child, stop };
}
