// One container of a Deployment run as a local process: the manifest's command from the repository
// root (the image's working directory), only the environment it was given (a pod does not inherit
// the host's), output to a log file, ready when its readiness probe answers. Started in its own
// process group so a Ctrl-C in the terminal reaches the platform, which stops processes in order.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Region } from "../../operators/api/regionfailover.ts";
import { REPO_ROOT, type ProcessRole } from "./local-deploy.ts";

const nodeBinary = join(REPO_ROOT, "node_modules", ".bin", "node");

export interface LocalProcessSpec {
  region: Region;
  deployment: string;
  role: ProcessRole;
  /** Pod name: what POD_NAME says and what the logs are named after. */
  name: string;
  command: string[];
  env: Record<string, string>;
  /** The readiness probe's local URL, when the container has one. */
  readyUrl?: string;
  logPath: string;
}

export interface LocalProcess extends LocalProcessSpec {
  child: ChildProcess;
  exited: Promise<number | null>;
  logs(): string;
  /**
   * SIGTERM (graceful, as Kubernetes stops a pod) and wait; SIGKILL after `graceMs` (5 s: the
   * platform is thrown away, and a runner whose database is gone never finishes its drain).
   */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL: no cleanup, the way a node loss looks. */
  kill(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
});

/** The host variables a container runtime would also provide; nothing else leaks in. */
function baseEnv(): Record<string, string> {
  const keep = ["PATH", "HOME", "TZ", "LANG", "TMPDIR"];
  return Object.fromEntries(
    keep.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]!]])),
  );
}

export async function startLocalProcess(
  spec: LocalProcessSpec,
  readyTimeoutMs = 60_000,
): Promise<LocalProcess> {
  const [program, ...args] = spec.command;
  const log = createWriteStream(spec.logPath, { flags: "a" });
  const child = spawn(program === "node" ? nodeBinary : program!, args, {
    cwd: REPO_ROOT,
    env: { ...baseEnv(), ...spec.env },
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(child);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  const logs = () => {
    try {
      return readFileSync(spec.logPath, "utf8");
    } catch {
      return "";
    }
  };
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async (graceMs = 5000) => {
    if (!running()) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const processHandle: LocalProcess = {
    ...spec,
    child,
    exited,
    logs,
    stop,
    async kill() {
      if (!running()) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
  if (spec.readyUrl) {
    const deadline = Date.now() + readyTimeoutMs;
    // What readiness last said, so a start that times out names the check that held it back.
    let lastAnswer = "no answer yet";
    for (;;) {
      if (!running()) {
        throw new Error(
          `${spec.region} ${spec.deployment} (${spec.command.join(" ")}) exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${logs().slice(-4000)}`,
        );
      }
      const ok = await fetch(spec.readyUrl, { signal: AbortSignal.timeout(2000) })
        .then(async (r) => {
          if (!r.ok) lastAnswer = `${r.status} ${(await r.text()).slice(0, 2000)}`;
          return r.ok;
        })
        .catch((err: unknown) => {
          lastAnswer = String(err);
          return false;
        });
      if (ok) break;
      if (Date.now() > deadline) {
        await processHandle.kill();
        throw new Error(
          `${spec.region} ${spec.deployment} was not ready at ${spec.readyUrl} within ${readyTimeoutMs / 1000} s; it last answered: ${lastAnswer}\n${logs().slice(-4000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return processHandle;
}
