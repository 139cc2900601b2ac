// Shared by cluster:up and cluster:down: where the dev control plane lives.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "./build.ts";

export const devDir = join(cacheDir, "dev");
export const pidPath = join(devDir, "pid");
export const readyPath = join(devDir, "ready.json");
export const logPath = join(devDir, "apiserver.log");

export function runningPid(): number | undefined {
  try {
    const pid = Number(readFileSync(pidPath, "utf8").trim());
    if (!pid) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
