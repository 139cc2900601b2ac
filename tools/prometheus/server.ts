// A throw-away Prometheus server (Debian's `prometheus` package, the same one that ships promtool)
// that scrapes given targets every second and evaluates the generated rules. Tests use it to run the
// dashboards' PromQL against real app metrics; nothing here is for production.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { stringify } from "yaml";
import { freePort, sleep } from "../postgres/server.ts";

export interface PrometheusServer {
  url: string;
  stop(): Promise<void>;
}

export function prometheusPath(): string {
  const fromEnv = process.env.PROMETHEUS;
  if (fromEnv) return fromEnv;
  for (const dir of (process.env.PATH ?? "").split(delimiter).concat("/usr/bin")) {
    if (dir && existsSync(join(dir, "prometheus"))) return join(dir, "prometheus");
  }
  throw new Error(
    "The prometheus server binary was not found on PATH. Install it with " +
      "`apt-get install -y --no-install-recommends prometheus` (the package also ships promtool), or set PROMETHEUS.",
  );
}

export async function startPrometheus(options: {
  /** host:port targets serving /metrics. */
  targets: string[];
  ruleFiles: string[];
}): Promise<PrometheusServer> {
  const binary = prometheusPath();
  const dir = mkdtempSync(join(tmpdir(), "freight-prometheus-"));
  const port = await freePort();
  const config = {
    global: { scrape_interval: "1s", evaluation_interval: "1s" },
    rule_files: options.ruleFiles,
    scrape_configs: [{ job_name: "freight-app", static_configs: [{ targets: options.targets }] }],
  };
  writeFileSync(join(dir, "prometheus.yml"), stringify(config));
  let log = "";
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  child.stderr?.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-8000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited while starting:\n${log}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready within 30 s:\n${log}`);
    }
    await sleep(200);
  }
}
