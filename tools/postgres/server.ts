// Throw-away PostgreSQL servers from the Debian binaries, for tests, the local platform and the game day.
// A server runs as the `postgres` system user when we are root (initdb and postgres refuse root),
// lives in its own temp dir, listens on 127.0.0.1 on a free port and is stopped on process exit.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
  appendFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import {
  postgresBinDir,
  serverIdentity,
} from "../../operators/controllers/failover/drivers/postgres-rebuild.ts";

export { postgresBinDir };

const run = promisify(execFile);
/** How long stop() lets sessions leave on their own before a fast shutdown ends them. */
const SMART_SHUTDOWN_GRACE_MS = 300;

export const SUPERUSER = "postgres";
export const SUPERUSER_PASSWORD = "local-superuser";

export interface PostgresServer {
  name: string;
  host: string;
  port: number;
  dir: string;
  dataDir: string;
  /** Connection URL for a role and database on this server. */
  url(user?: string, password?: string, database?: string): string;
  /** Stops the server (fast shutdown) and removes its directory unless kept. */
  stop(options?: { keep?: boolean }): Promise<void>;
  /** Kills the postmaster with SIGKILL, the way a host loss looks to clients. */
  kill(): Promise<void>;
  process: ChildProcess;
}

export interface StartOptions {
  name?: string;
  port?: number;
  /** Make this server a streaming physical replica of `replicaOf` (pg_basebackup -R). */
  replicaOf?: PostgresServer;
  /** Durability off (fsync, synchronous_commit) for fast tests. */
  durable?: boolean;
  settings?: Record<string, string | number>;
  /** Keep the directory after stop (inspection after a failing drill). */
  keep?: boolean;
  /**
   * Live in this directory (created if absent, must be empty) instead of a fresh temp dir: a server
   * rebuilt in place of a stopped one keeps its paths, which running processes were given at start.
   */
  dir?: string;
  /**
   * With `dir`: its data directory is already there (rebuilt in place as a replica by
   * rebuildDataDirectory); start it as it is, with these options' settings on top.
   */
  existing?: boolean;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") return reject(new Error("no port assigned"));
      server.close(() => resolve(address.port));
    });
  });
}

const running = new Set<PostgresServer>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test run that fails or is interrupted must not leave postmasters behind.
  process.once("exit", () => {
    for (const server of running) {
      try {
        server.process.kill("SIGKILL");
      } catch {
        /* already gone */
      }
      try {
        rmSync(server.dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

export async function startPostgres(options: StartOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const identity = await serverIdentity();
  const name = options.name ?? "pg";
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `freight-${name}-`));
  if (options.dir && !options.existing) {
    mkdirSync(dir, { recursive: true });
    if (readdirSync(dir).length)
      throw new Error(`PostgreSQL ${name}: ${dir} is not empty; stop the server that used it first.`);
  }
  const dataDir = join(dir, "data");
  let port = options.port ?? (await freePort());
  if (identity.uid !== undefined && identity.gid !== undefined) chownSync(dir, identity.uid, identity.gid);

  const asServerUser = (file: string, args: string[]) =>
    run(join(bin, file), args, {
      ...identity,
      cwd: dir,
      env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD },
    });

  try {
    if (options.existing) {
      if (!existsSync(join(dataDir, "PG_VERSION")))
        throw new Error(`${dataDir} holds no data directory to start (no PG_VERSION)`);
    } else if (options.replicaOf) {
      const source = options.replicaOf;
      await asServerUser("pg_basebackup", [
        "-h",
        source.host,
        "-p",
        String(source.port),
        "-U",
        SUPERUSER,
        "-D",
        dataDir,
        "-X",
        "stream",
        "-R",
        "--checkpoint=fast",
      ]);
    } else {
      const pwfile = join(dir, "pwfile");
      writeFileSync(pwfile, SUPERUSER_PASSWORD);
      if (identity.uid !== undefined && identity.gid !== undefined)
        chownSync(pwfile, identity.uid, identity.gid);
      await asServerUser("initdb", [
        "-D",
        dataDir,
        "-U",
        SUPERUSER,
        "--pwfile",
        pwfile,
        "-E",
        "UTF8",
        "--locale=C",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--no-sync",
      ]);
      rmSync(pwfile);
    }
  } catch (error) {
    if (!options.existing) rmSync(dir, { recursive: true, force: true });
    const e = error as { stderr?: string; message: string };
    throw new Error(`Could not create PostgreSQL data directory for ${name}: ${e.stderr || e.message}`);
  }

  const durable = options.durable ?? false;
  const settings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    port,
    unix_socket_directories: `'${dir}'`,
    max_connections: 200,
    shared_buffers: "'128MB'",
    wal_level: "replica",
    max_wal_senders: 10,
    hot_standby: "on",
    hot_standby_feedback: "on",
    wal_keep_size: "'256MB'",
    // pg_rewind (failback) needs hint-bit changes in the WAL on the server it rewinds, and full
    // page images on the one it copies from: both stay on even when durability is off.
    wal_log_hints: "on",
    full_page_writes: "on",
    log_min_messages: "warning",
    ...(durable ? {} : { fsync: "off", synchronous_commit: "off" }),
    ...options.settings,
  };
  appendFileSync(
    join(dataDir, "postgresql.auto.conf"),
    Object.entries(settings)
      .map(([key, value]) => `${key} = ${value}\n`)
      .join(""),
  );

  // A free port is only free until someone takes it: between freePort() closing its probe socket and
  // the postmaster binding, another process's outgoing connection can be handed the same ephemeral
  // port. When the port was ours to choose, pick another and start again instead of failing the run.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(options.port ?? port);
    } catch (error) {
      if (!(error instanceof PortTaken) || options.port !== undefined || attempt >= 5) throw error;
      port = await freePort();
      appendFileSync(join(dataDir, "postgresql.auto.conf"), `port = ${port}\n`);
    }
  }

  async function launch(port: number): Promise<PostgresServer> {
    const child = spawn(join(bin, "postgres"), ["-D", dataDir], {
      ...identity,
      cwd: dir,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-8000);
    });

    const server: PostgresServer = {
      name,
      host: "127.0.0.1",
      port,
      dir,
      dataDir,
      process: child,
      url(user = SUPERUSER, password = SUPERUSER_PASSWORD, database = "postgres") {
        return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
      },
      async stop({ keep } = {}) {
        running.delete(server);
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once("exit", resolve));
          // Smart shutdown first, for a moment: a client that has just sent its Terminate (a pool's
          // end() resolves before its sockets close) gets to leave, instead of receiving the FATAL
          // 57P01 that a fast shutdown sends every session, which a client no longer listening for
          // errors turns into an uncaught exception in whoever stopped the server.
          child.kill("SIGTERM");
          const fast = setTimeout(() => child.kill("SIGINT"), SMART_SHUTDOWN_GRACE_MS);
          const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
          await exited;
          clearTimeout(fast);
          clearTimeout(timer);
        }
        if (!(keep ?? options.keep)) rmSync(dir, { recursive: true, force: true });
      },
      async kill() {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      },
    };
    running.add(server);
    installExitHook();

    await waitUntilReady(server, () => log, child);
    return server;
  }
}

async function waitUntilReady(server: PostgresServer, log: () => string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      running.delete(server);
      const message = `PostgreSQL ${server.name} exited while starting:\n${log()}`;
      throw /could not bind .*Address already in use/.test(log())
        ? new PortTaken(message)
        : new Error(message);
    }
    const client = new pg.Client({ connectionString: server.url() });
    try {
      await client.connect();
      await client.query("select 1");
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`PostgreSQL ${server.name} did not accept connections within 60 s:\n${log()}`);
      }
      await sleep(100);
    }
  }
}

class PortTaken extends Error {}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
