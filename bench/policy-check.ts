// npm run bench:policy [-- --runs N]
// Times `npm run policy:check` on both region stacks, as CI runs it (a fresh Node process each
// run), and prints per run the wall clock, the time the check reports and the load average, then
// the worst run against the 20 s budget.
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const BUDGET_S = 20;
const { values } = parseArgs({ options: { runs: { type: "string", default: "3" } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive whole number, got "${values.runs}"`);
  process.exit(64);
}

const check = join(import.meta.dirname, "..", "policies", "check.ts");
const walls: number[] = [];
for (let run = 1; run <= runs; run++) {
  const started = performance.now();
  const result = spawnSync(process.execPath, [check], { encoding: "utf8" });
  const wall = (performance.now() - started) / 1000;
  if (result.status !== 0) {
    console.error(`policy:check exited ${result.status}:\n${result.stdout}${result.stderr}`);
    process.exit(1);
  }
  walls.push(wall);
  const summary = /(\d+ mandatory, \d+ advisory violations .*)$/m.exec(result.stdout)?.[1] ?? "";
  console.log(`run ${run}: ${wall.toFixed(1)} s wall  [${summary}]  load ${loadavg()[0]!.toFixed(1)}`);
}
const worst = Math.max(...walls);
console.log(
  `worst of ${runs}: ${worst.toFixed(1)} s wall (budget ${BUDGET_S} s): ${worst <= BUDGET_S ? "within" : "OVER"}`,
);
process.exitCode = worst <= BUDGET_S ? 0 : 1;
