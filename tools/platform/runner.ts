// Runners for tests and benchmarks: in this process (fast, observable), or as real processes that can
// be sent SIGTERM or killed with SIGKILL the way Kubernetes and a node loss do.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { freePort } from "../postgres/server.ts";
import { parseRunnerConfig, type RunnerConfig } from "../../app/runner/config.ts";
import { startRunner, type RunningRunner } from "../../app/runner/main.ts";

/** Fast settings for tests: short leases, polls and backoff. */
export const TEST_RUNNER_ENV: Record<string, string> = {
  LOG_LEVEL: "silent",
  RUNNER_HOST: "127.0.0.1",
  RUNNER_PORT: "0",
  RUNNER_POLL_MS: "50",
  RUNNER_LEASE_SECONDS: "2",
  RUNNER_RETRY_BASE_MS: "50",
  RUNNER_RETRY_MAX_MS: "400",
  RUNNER_DRAIN_SECONDS: "10",
};

export function testRunnerConfig(databaseUrl: string, env: Record<string, string> = {}): RunnerConfig {
  return parseRunnerConfig({ ...TEST_RUNNER_ENV, DATABASE_URL: databaseUrl, ...env });
}

export function startTestRunner(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<RunningRunner> {
  return startRunner(testRunnerConfig(databaseUrl, env));
}

export interface RunnerProcess {
  child: ChildProcess;
  url: string;
  runnerId: string;
  /** What the process wrote (JSON log lines), for assertions and for failing tests' output. */
  output(): string;
  /** SIGTERM and wait for the exit code. */
  terminate(): Promise<number | null>;
  /** SIGKILL: no drain, no last heartbeat, leases left to expire. */
  kill(): Promise<void>;
}

export async function spawnRunner(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<RunnerProcess> {
  const port = await freePort();
  const runnerId = env.RUNNER_ID ?? `test-runner-${port}`;
  const child = spawn(process.execPath, ["app/runner/main.ts"], {
    env: {
      ...process.env,
      ...TEST_RUNNER_ENV,
      LOG_LEVEL: "info",
      DATABASE_URL: databaseUrl,
      RUNNER_PORT: String(port),
      RUNNER_ID: runnerId,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = once(child, "exit");
  for (let i = 0; ; i++) {
    if (child.exitCode !== null)
      throw new Error(`runner exited with ${child.exitCode} before it was ready:\n${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (i > 600) {
      child.kill("SIGKILL");
      throw new Error(`runner did not serve /healthz within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    url,
    runnerId,
    output: () => output,
    async terminate() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Polls `probe` until `ok` holds, failing with the last value seen after `ms`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
