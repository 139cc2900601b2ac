// npm run gameday -- --scenario planned|primary-db-loss|failback|llm-degraded [--out report.json] [--warmup 5] [--cooldown 3] [--step 3]
// Runs one drill (a failover on the local platform, or the LLM provider degraded), prints its
// figures and writes them as JSON.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatReport, runGameDay, type Scenario } from "./drill.ts";
import { formatLlmReport, runLlmGameDay } from "./llm-degraded.ts";

const { values } = parseArgs({
  options: {
    scenario: { type: "string" },
    out: { type: "string" },
    warmup: { type: "string", default: "5" },
    cooldown: { type: "string", default: "3" },
    step: { type: "string", default: "3" },
  },
});
if (values.scenario === "migration") await (await import("./migration.ts")).migrationScenario(values.out);
if (values.scenario === "failback") {
  const { formatFailbackReport, runFailbackGameDay } = await import("./failback.ts");
  const report = await runFailbackGameDay({ stepSeconds: Number(values.step) });
  console.log(formatFailbackReport(report));
  const out = resolve(
    values.out ?? join(import.meta.dirname, "..", "..", ".cache", "gameday", "failback.json"),
  );
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${out}`);
  process.exit(report.writes.lost === 0 ? 0 : 1);
}
const scenario = values.scenario as Scenario | "llm-degraded" | undefined;
if (scenario !== "planned" && scenario !== "primary-db-loss" && scenario !== "llm-degraded") {
  console.error(
    "usage: npm run gameday -- --scenario planned|primary-db-loss|failback|llm-degraded|migration [--out report.json]",
  );
  process.exit(2);
}
const out = resolve(
  values.out ?? join(import.meta.dirname, "..", "..", ".cache", "gameday", `${scenario}.json`),
);
let report: unknown;
if (scenario === "llm-degraded") {
  const llmReport = await runLlmGameDay();
  console.log(formatLlmReport(llmReport));
  report = llmReport;
} else {
  const drillReport = await runGameDay({
    scenario,
    warmupSeconds: Number(values.warmup),
    cooldownSeconds: Number(values.cooldown),
    stepSeconds: Number(values.step),
  });
  console.log(formatReport(drillReport));
  report = drillReport;
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${out}`);
process.exit(0);
