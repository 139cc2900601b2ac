// Test fixture: starts real local control planes (etcd + kube-apiserver, see
// main.go) in their own temporary directories and always tears them down.
//
//   const cluster = await startCluster({ name: "primary" });
//   const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
//   ...
//   await cluster.stop();
import { spawn, type ChildProcess } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { KubeConfig } from "@kubernetes/client-node";
import { ensureBuilt } from "./build.ts";
import { mintServiceAccountKubeconfig, type ServiceAccountCredentials } from "./serviceaccount.ts";

export type { ServiceAccountCredentials };

export interface StartClusterOptions {
  /** Cluster (and kubeconfig context) name, e.g. a region: "primary", "secondary". */
  name?: string;
  /** Seconds to wait for /readyz once the binary is built; default 120. */
  readyTimeoutSeconds?: number;
  /** Keep the state directory (certificates, etcd data, logs) after stop(), for debugging. */
  keepDir?: boolean;
  /** Extra kube-apiserver flags, e.g. ["--feature-gates=..."]. */
  apiserverArgs?: string[];
}

export interface LocalCluster {
  name: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** Admin kubeconfig (client certificate in system:masters). */
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** Temporary directory holding apiserver.log and minted ServiceAccount kubeconfigs. */
  dir: string;
  /** The control plane's own state directory (certificates, etcd data, admin kubeconfig). */
  stateDir: string;
  pid: number;
  /** Milliseconds from process start to /readyz ok, as reported by the binary. */
  startupMs: number;
  /**
   * Mints a kubeconfig for namespace/serviceAccount through the TokenRequest
   * API (creating the namespace and ServiceAccount if missing), so code under
   * test runs with exactly the RBAC granted to it.
   */
  serviceAccountKubeconfig(
    namespace: string,
    serviceAccount: string,
    options?: { expirationSeconds?: number },
  ): Promise<ServiceAccountCredentials>;
  /** The last lines the control plane logged, for error messages. */
  logTail(lines?: number): string;
  /** SIGTERM, wait for a clean exit (SIGKILL after 15 s), remove the directory. Idempotent. */
  stop(): Promise<void>;
}

interface ReadyLine {
  ready: boolean;
  name: string;
  server: string;
  kubeconfig: string;
  dir: string;
  pid: number;
  startupMs: number;
}

interface RunningEntry {
  child: ChildProcess;
  dir: string;
  stateDir?: string;
  keepDir: boolean;
}
const running = new Set<RunningEntry>();

// Last resort when the test process exits without stop() (only sync calls
// work here): SIGTERM lets each control plane remove its own state directory.
// The binary also shuts down by itself when our end of its stdin pipe closes.
process.once("exit", () => {
  for (const entry of running) {
    killGroup(entry.child, "SIGTERM");
    if (!entry.keepDir) rmSync(entry.dir, { recursive: true, force: true, maxRetries: 3 });
  }
});

/** SIGTERM, then SIGKILL the group if it does not exit in time; remove what it leaves. */
async function terminate(entry: RunningEntry): Promise<void> {
  const { child } = entry;
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  if (!(await waitForExit(child, 15_000))) {
    killGroup(child, "SIGKILL");
    await waitForExit(child, 5000);
  }
  child.stdin?.destroy();
  running.delete(entry);
  rmSync(join(entry.dir, "localcluster.pid"), { force: true });
  if (!entry.keepDir) {
    rmSync(entry.dir, { recursive: true, force: true, maxRetries: 3 });
    if (entry.stateDir) rmSync(entry.stateDir, { recursive: true, force: true, maxRetries: 3 });
  }
}

let swept = false;

/**
 * Removes temporary directories of control planes whose process is gone (one
 * killed with SIGKILL cannot clean up; each leaves ~130 MiB of etcd data).
 * Directories without a pid file (kept on purpose, or just being created) are
 * left alone unless over a day old.
 */
function sweepOnce(): void {
  if (swept) return;
  swept = true;
  const root = tmpdir();
  for (const name of readdirSync(root)) {
    if (!name.startsWith("localcluster-")) continue;
    const path = join(root, name);
    try {
      const pidFile = join(path, "localcluster.pid");
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, "utf8").trim());
        if (pid && processAlive(pid)) continue;
      } else if (Date.now() - statSync(path).mtimeMs < 24 * 3600 * 1000) {
        continue;
      }
      rmSync(path, { recursive: true, force: true });
    } catch {
      // raced with its owner, or not ours to read: leave it
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  // A killed process whose parent died too lingers as a zombie until reaped.
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return true;
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function startOnce(binary: string, name: string, options: StartClusterOptions): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), `localcluster-${name}-`));
  const logPath = join(dir, "apiserver.log");
  const keepDir = options.keepDir ?? false;
  // No --dir: the binary makes its own state directory and removes it on exit,
  // also when it exits because our end of its stdin closed (this process died).
  const args = ["--name", name, "--exit-with-stdin"];
  if (keepDir) args.push("--keep");
  if (options.apiserverArgs?.length) args.push("--", ...options.apiserverArgs);
  const logFd = openSync(logPath, "a");
  // Own process group, so cleanup can signal everything it may have started.
  const child = spawn(binary, args, { detached: true, stdio: ["pipe", "pipe", logFd] });
  closeSync(logFd);
  writeFileSync(join(dir, "localcluster.pid"), `${child.pid}\n`);
  const entry: RunningEntry = { child, dir, keepDir };
  running.add(entry);

  const timeoutMs = (options.readyTimeoutSeconds ?? 120) * 1000;
  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(
      () => reject(new Error(`control plane "${name}" not ready within ${timeoutMs / 1000}s`)),
      timeoutMs,
    );
    lines.on("line", (line) => {
      try {
        const parsed = JSON.parse(line) as ReadyLine;
        if (parsed.ready) {
          clearTimeout(timer);
          resolve(parsed);
        }
      } catch {
        // not the ready line
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`control plane "${name}" exited before it was ready (code ${code}, signal ${signal})`),
      );
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  }).catch(async (error: Error) => {
    const log = tail(logPath, 40);
    await terminate(entry);
    throw Object.assign(new Error(`${error.message}\n--- ${logPath} (last lines) ---\n${log}`), {
      addressInUse: /address already in use/.test(log),
    });
  });

  entry.stateDir = ready.dir;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(ready.kubeconfig);
  let stopped: Promise<void> | undefined;

  const cluster: LocalCluster = {
    name,
    server: ready.server,
    kubeconfigPath: ready.kubeconfig,
    kubeConfig,
    dir,
    stateDir: ready.dir,
    pid: ready.pid,
    startupMs: ready.startupMs,
    logTail: (lines = 40) => tail(logPath, lines),
    serviceAccountKubeconfig(namespace, serviceAccount, saOptions = {}) {
      const path = join(dir, `sa-${namespace}-${serviceAccount}.kubeconfig`);
      return mintServiceAccountKubeconfig(kubeConfig, namespace, serviceAccount, path, saOptions);
    },
    stop() {
      // The server drains on SIGTERM, stops etcd, removes its state and exits 0.
      stopped ??= terminate(entry);
      return stopped;
    },
  };
  return cluster;
}

/**
 * Builds the control plane if needed (a cold build takes 5-15 minutes; give
 * the calling hook a long timeout) and starts one cluster. Call stop() in
 * afterAll; clusters left running are killed when the process exits.
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<LocalCluster> {
  const binary = await ensureBuilt();
  sweepOnce();
  const name = options.name ?? "local";
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binary, name, options);
    } catch (error) {
      // Free ports are picked before binding; a rare collision is retried.
      if (attempt < 3 && (error as { addressInUse?: boolean }).addressInUse) continue;
      throw error;
    }
  }
}

/** Starts several clusters side by side, e.g. startClusters(["primary", "secondary"]). */
export async function startClusters(
  names: string[],
  options: Omit<StartClusterOptions, "name"> = {},
): Promise<LocalCluster[]> {
  await ensureBuilt();
  const results = await Promise.allSettled(names.map((name) => startCluster({ ...options, name })));
  const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    await Promise.all(started.map((c) => c.stop()));
    throw failed.reason;
  }
  return started;
}

/** Stops every cluster this process started and has not stopped yet. */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...running].map(terminate));
}
