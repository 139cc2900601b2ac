// npm run cluster:down [-- --purge]
// Stops the dev control plane; --purge also deletes its state (etcd data, certificates).
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { devDir, pidPath, runningPid } from "./dev.ts";

const { values } = parseArgs({ options: { purge: { type: "boolean", default: false } } });

const pid = runningPid();
if (pid) {
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 20_000;
  while (runningPid() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (runningPid()) process.kill(-pid, "SIGKILL");
  console.log(`local control plane stopped (pid ${pid})`);
} else {
  console.log("local control plane is not running");
}
rmSync(pidPath, { force: true });
if (values.purge) {
  rmSync(devDir, { recursive: true, force: true });
  console.log(`removed ${devDir}`);
}
