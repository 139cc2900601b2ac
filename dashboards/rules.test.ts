// Validates the committed rule files with Prometheus' own promtool: syntax and semantics
// (`promtool check rules`) and behaviour (`promtool test rules`, a firing and a quiet case for every
// alert). promtool prints no test count, so its exit code decides.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { RULES_DIR } from "./generate.ts";
import { promtool, promtoolPath } from "./promtool.ts";
import { alertCoverage, promtoolTestFiles } from "./rule-tests.ts";
import { allRuleGroups, isAlertingRule } from "./rules.ts";

const ruleFiles = readdirSync(RULES_DIR)
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => join(RULES_DIR, f));
const workDir = mkdtempSync(join(tmpdir(), "freight-promtool-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe("generated Prometheus rules", () => {
  it("finds promtool (from Debian's prometheus package)", () => {
    expect(promtoolPath()).toMatch(/promtool$/);
  });

  it.each(ruleFiles.map((f) => [f.slice(RULES_DIR.length + 1), f]))(
    "promtool check rules %s",
    async (_name, file) => {
      const result = await promtool(["check", "rules", file]);
      expect(result.exitCode, result.output).toBe(0);
      expect(result.output).toContain("SUCCESS");
    },
  );

  it("has a firing and a quiet promtool test case for every alert", () => {
    const alerts = allRuleGroups()
      .flatMap((g) => g.rules)
      .filter(isAlertingRule)
      .map((r) => r.alert);
    const coverage = alertCoverage();
    expect(
      alerts.filter((a) => !coverage.firing.has(a)),
      "alerts without a firing case",
    ).toEqual([]);
    expect(
      alerts.filter((a) => !coverage.quiet.has(a)),
      "alerts without a quiet case",
    ).toEqual([]);
    const unknown = [...coverage.firing, ...coverage.quiet].filter((a) => !alerts.includes(a));
    expect(unknown, "test cases for alerts that do not exist").toEqual([]);
  });

  it.each(promtoolTestFiles().map((f) => [f.name, f]))(
    "promtool test rules %s",
    async (_name, file) => {
      const path = join(workDir, file.name);
      const { name: _ignored, ...suite } = file;
      writeFileSync(
        path,
        stringify({ rule_files: ruleFiles, ...suite }, { lineWidth: 0, aliasDuplicateObjects: false }),
      );
      const result = await promtool(["test", "rules", path], { timeoutMs: 300_000 });
      expect(result.exitCode, result.output).toBe(0);
      expect(result.output).toContain("SUCCESS");
    },
    300_000,
  );

  it("promtool test rules fails when an expected alert does not fire (the exit code is meaningful)", async () => {
    const [first] = promtoolTestFiles();
    const test = first?.tests[0];
    if (!first || !test) throw new Error("no promtool test cases");
    const broken = {
      ...test,
      name: "deliberately wrong: expects a page with no traffic",
      input_series: test.input_series.map((s) => ({ ...s, values: "0x30" })),
    };
    const path = join(workDir, "broken.test.yaml");
    writeFileSync(path, stringify({ rule_files: ruleFiles, evaluation_interval: "1m", tests: [broken] }));
    const result = await promtool(["test", "rules", path]);
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toContain("FAILED");
  });
});
