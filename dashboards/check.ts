// `npm run dashboards:check`: the same validation CI runs, outside vitest and with timings:
// generation, drift against the committed files, `promtool check rules` and `promtool test rules`.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { GENERATED_DIR, RULES_DIR, renderGenerated } from "./generate.ts";
import { promtool } from "./promtool.ts";
import { promtoolTestFiles } from "./rule-tests.ts";

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await work();
  console.log(`${label}: ${((performance.now() - start) / 1000).toFixed(2)} s`);
  return result;
}

let failed = false;
const fresh = await timed("generate dashboards and rules", () => renderGenerated());
for (const [rel, content] of Object.entries(fresh)) {
  let committed = "";
  try {
    committed = readFileSync(join(GENERATED_DIR, rel), "utf8");
  } catch {
    /* missing: reported below */
  }
  if (committed !== content) {
    failed = true;
    console.error(`dashboards/generated/${rel} is stale or missing: run \`npm run dashboards:generate\`.`);
  }
}

const ruleFiles = readdirSync(RULES_DIR).map((f) => join(RULES_DIR, f));
const check = await timed(`promtool check rules (${ruleFiles.length} files)`, () =>
  promtool(["check", "rules", ...ruleFiles]),
);
if (check.exitCode !== 0) {
  failed = true;
  console.error(check.output);
}

const workDir = mkdtempSync(join(tmpdir(), "freight-promtool-"));
try {
  const suites = promtoolTestFiles();
  const cases = suites.reduce((n, s) => n + s.tests.length, 0);
  await timed(`promtool test rules (${suites.length} suites, ${cases} cases)`, async () => {
    for (const { name, ...suite } of suites) {
      const path = join(workDir, name);
      writeFileSync(
        path,
        stringify({ rule_files: ruleFiles, ...suite }, { lineWidth: 0, aliasDuplicateObjects: false }),
      );
      const result = await timed(`  ${name} (${suite.tests.length} cases)`, () =>
        promtool(["test", "rules", path], { timeoutMs: 600_000 }),
      );
      if (result.exitCode !== 0) {
        failed = true;
        console.error(result.output);
      }
    }
  });
} finally {
  rmSync(workDir, { recursive: true, force: true });
}

if (failed) process.exit(1);
console.log("dashboards and rules: OK");
