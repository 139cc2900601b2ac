// A local control plane that can be stopped and started again on the same port with the same
// etcd data, so a test can restart the API server under a running operator and see its watches
// resume. (The shared fixture starts each control plane fresh; this drives the same binary with
// --dir and --port.)
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { KubeConfig } from "@kubernetes/client-node";
import { ensureBuilt } from "../localcluster/build.ts";
import { freePort } from "../postgres/server.ts";

export interface RestartableControlPlane {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  server: string;
  /** SIGTERM and wait until the API server is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves when it is ready. */
  start(): Promise<void>;
  /** Stop for good and remove the data. */
  destroy(): Promise<void>;
}

export async function startRestartableControlPlane(
  name: string,
  apiserverArgs: string[] = [],
): Promise<RestartableControlPlane> {
  const binary = await ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), `restartable-${name}-`));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const exitHook = () => child?.kill("SIGKILL");
  process.once("exit", exitHook);

  const launch = async (): Promise<{ kubeconfig: string; server: string }> => {
    const args = ["--name", name, "--dir", dir, "--port", String(port), "--exit-with-stdin"];
    if (apiserverArgs.length) args.push("--", ...apiserverArgs);
    const proc = spawn(binary, args, { stdio: ["pipe", "pipe", "ignore"] });
    child = proc;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`control plane ${name} not ready in 120 s`)), 120_000);
      createInterface({ input: proc.stdout! }).on("line", (line) => {
        try {
          const ready = JSON.parse(line) as { ready?: boolean; kubeconfig: string; server: string };
          if (ready.ready) {
            clearTimeout(timer);
            resolve(ready);
          }
        } catch {
          // not the ready line
        }
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`control plane ${name} exited with ${code} before it was ready`));
      });
    });
  };

  const stop = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  };

  const first = await launch();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(first.kubeconfig);
  return {
    kubeconfigPath: first.kubeconfig,
    kubeConfig,
    server: first.server,
    stop,
    async start() {
      await launch();
    },
    async destroy() {
      await stop();
      process.removeListener("exit", exitHook);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
