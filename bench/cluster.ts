// npm run bench:cluster
// Warm start to ready and resident memory of the local control plane.
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { CoreV1Api } from "@kubernetes/client-node";
import { ensureBuilt } from "../tools/localcluster/build.ts";
import { startCluster } from "../tools/localcluster/fixture.ts";

const runs = Number(process.env.BENCH_RUNS ?? 3);

function rssMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

function cpuSeconds(pid: number): number {
  // Fields 14 and 15 of /proc/PID/stat: user and system time in clock ticks (100 Hz).
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

await ensureBuilt();
const startMs: number[] = [];
let idle = { rss: 0, peak: 0 };
let idleCpuPercent = 0;
let loaded = { rss: 0, peak: 0 };
for (let i = 0; i < runs; i++) {
  const began = performance.now();
  const cluster = await startCluster({ name: `bench-${i}` });
  startMs.push(performance.now() - began);
  try {
    if (i === runs - 1) {
      await new Promise((r) => setTimeout(r, 5000));
      idle = rssMiB(cluster.pid);
      // CPU an idle cluster burns on its own (lease renewals, controllers, etcd).
      const before = cpuSeconds(cluster.pid);
      await new Promise((r) => setTimeout(r, 10_000));
      idleCpuPercent = ((cpuSeconds(cluster.pid) - before) / 10) * 100;
      // A modest working set: 500 ConfigMaps of 1 KiB in one namespace, then a list.
      const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: "bench" } } });
      const payload = "x".repeat(1024);
      for (let n = 0; n < 500; n += 25) {
        await Promise.all(
          Array.from({ length: 25 }, (_, k) =>
            core.createNamespacedConfigMap({
              namespace: "bench",
              body: { metadata: { name: `cm-${n + k}` }, data: { payload } },
            }),
          ),
        );
      }
      await core.listNamespacedConfigMap({ namespace: "bench" });
      loaded = rssMiB(cluster.pid);
    }
  } finally {
    await cluster.stop();
  }
}

const sorted = [...startMs].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)]!;
const totalGiB = totalmem() / 1024 ** 3;
const fit = Math.floor((totalGiB * 1024) / loaded.peak);
console.log(`machine: ${cpus().length} cores, ${totalGiB.toFixed(1)} GiB`);
console.log(
  `warm start to ready (${runs} runs): ${startMs.map((ms) => (ms / 1000).toFixed(2)).join(", ")} s; median ${(median / 1000).toFixed(2)} s`,
);
console.log(`RSS idle 5 s after ready: ${idle.rss.toFixed(0)} MiB (peak ${idle.peak.toFixed(0)} MiB)`);
console.log(`CPU of an idle cluster: ${idleCpuPercent.toFixed(1)} % of one core`);
console.log(`RSS after 500 ConfigMaps: ${loaded.rss.toFixed(0)} MiB (peak ${loaded.peak.toFixed(0)} MiB)`);
console.log(
  `clusters that fit in memory by peak RSS: ~${fit} (memory only; 2 cores bound start-up and load first)`,
);
