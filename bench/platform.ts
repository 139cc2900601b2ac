// npm run bench:platform
// Warm start to ready of the two-region local platform (`npm start`): the control plane already
// built and the stacks' plan cached, as on every start but the first after a change. Ready means
// every process the stacks deploy answers its readiness probe. Prints each step per run.
import { cpus, loadavg } from "node:os";
import { ensureBuilt } from "../tools/localcluster/build.ts";
import { startPlatform } from "../tools/platform/platform.ts";
import { regionManifests } from "../tools/platform/stack-manifests.ts";

const runs = Number(process.env.BENCH_RUNS ?? 3);
const goalSeconds = 20;

await ensureBuilt();
const plan = await regionManifests();
console.log(
  `plan ${plan.fromCache ? "cached" : `computed in ${(plan.ms / 1000).toFixed(1)} s (not counted)`}`,
);
console.log(
  `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "unknown"}), node ${process.version}, load ${loadavg()[0]!.toFixed(1)}`,
);

const totals: number[] = [];
for (let i = 0; i < runs; i++) {
  const began = performance.now();
  const platform = await startPlatform({ name: `bench-${i}` });
  const seconds = (performance.now() - began) / 1000;
  totals.push(seconds);
  const steps = Object.entries(platform.timings)
    .filter(([step]) => step !== "total")
    .map(([step, ms]) => `${step} ${(ms / 1000).toFixed(1)} s`)
    .join(", ");
  console.log(`run ${i + 1}: ready in ${seconds.toFixed(1)} s (load ${loadavg()[0]!.toFixed(1)}; ${steps})`);
  await platform.stop();
}
const sorted = [...totals].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)]!;
console.log(
  `warm start to ready: median ${median.toFixed(1)} s, max ${sorted[sorted.length - 1]!.toFixed(1)} s over ${runs} runs (goal <= ${goalSeconds} s)`,
);
process.exit(median <= goalSeconds ? 0 : 1);
