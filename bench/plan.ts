// npm run bench:plan [-- --runs N]
// Times offline planning of both region stacks (each in its own worker process, in parallel, as
// the stack tests and the policy check do) and prints one line per run plus the median.
import { parseArgs } from "node:util";

import { planStack } from "./plan.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "3" } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive whole number, got "${values.runs}"`);
  process.exit(64);
}

const stacks = ["prod-primary", "prod-secondary"];
const walls: number[] = [];
for (let run = 1; run <= runs; run++) {
  const started = performance.now();
  const timed = await Promise.all(
    stacks.map(async (stack) => {
      const t0 = performance.now();
      const plan = await planStack(stack);
      return { stack, ms: performance.now() - t0, resources: plan.resources.length };
    }),
  );
  const wall = performance.now() - started;
  walls.push(wall);
  console.log(
    `run ${run}: both stacks ${(wall / 1000).toFixed(2)} s  ` +
      timed.map((t) => `${t.stack} ${(t.ms / 1000).toFixed(2)} s (${t.resources} resources)`).join("  "),
  );
}
const sorted = [...walls].sort((a, b) => a - b);
console.log(
  `median of ${runs}: ${(sorted[Math.floor(sorted.length / 2)]! / 1000).toFixed(2)} s for both stacks`,
);
