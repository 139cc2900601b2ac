// npm run cluster:up [-- --port 6443] [-- --fresh]
// Starts the dev control plane in the background with its state in
// .cache/localcluster/dev (kept across up/down; --fresh starts from scratch).
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensureBuilt } from "./build.ts";
import { devDir, logPath, pidPath, readyPath, runningPid } from "./dev.ts";

const { values } = parseArgs({
  options: { port: { type: "string", default: "0" }, fresh: { type: "boolean", default: false } },
});

function printUsage(kubeconfig: string): void {
  console.log(`export KUBECONFIG=${kubeconfig}`);
  console.log("kubectl get ns");
}

const kubeconfig = join(devDir, "kubeconfig");
const existing = runningPid();
if (existing) {
  const ready = JSON.parse(readFileSync(readyPath, "utf8")) as { server: string };
  console.log(`local control plane already running at ${ready.server} (pid ${existing})`);
  printUsage(kubeconfig);
  process.exit(0);
}

const binary = await ensureBuilt();
if (values.fresh) rmSync(devDir, { recursive: true, force: true });
mkdirSync(devDir, { recursive: true });
rmSync(readyPath, { force: true });
const out = openSync(readyPath, "w");
const err = openSync(logPath, "a");
const child = spawn(binary, ["--name", "local", "--dir", devDir, "--port", values.port], {
  detached: true,
  stdio: ["ignore", out, err],
});
closeSync(out);
closeSync(err);
writeFileSync(pidPath, `${child.pid}\n`);
child.unref();

const deadline = Date.now() + 120_000;
for (;;) {
  const text = existsSync(readyPath) ? readFileSync(readyPath, "utf8") : "";
  if (text.includes('"ready":true')) {
    const ready = JSON.parse(text.trim().split("\n").pop()!) as { server: string; startupMs: number };
    console.log(`local control plane ready at ${ready.server} (pid ${child.pid}, ${ready.startupMs} ms)`);
    printUsage(kubeconfig);
    break;
  }
  if (child.exitCode !== null || !runningPid() || Date.now() > deadline) {
    const log = readFileSync(logPath, "utf8").split("\n").slice(-30).join("\n");
    console.error(`local control plane did not become ready; last lines of ${logPath}:\n${log}`);
    if (runningPid()) process.kill(-child.pid!, "SIGKILL");
    rmSync(pidPath, { force: true });
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 200));
}
