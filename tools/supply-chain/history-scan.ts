// `npm run secrets:history`: gitleaks over every commit of the repository (CI runs it after the
// tests), with .gitleaks.toml (gitleaks' default rules plus the documented allowlist). Exit 0: no
// secret in any commit; 1: findings (redacted; the report names commit, file and line); 2: cannot run.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureGoTool } from "./go-tools.ts";
import { REPO_ROOT } from "./secret-scan.ts";

export interface HistoryFinding {
  rule: string;
  file: string;
  line: number;
  commit: string;
}

export function scanHistory(
  repo: string = REPO_ROOT,
  config = join(REPO_ROOT, ".gitleaks.toml"),
): HistoryFinding[] {
  const gitleaks = ensureGoTool("gitleaks", (line) => console.error(line));
  const outDir = join(REPO_ROOT, ".cache", "supply-chain");
  mkdirSync(outDir, { recursive: true });
  const report = join(outDir, "gitleaks.json");
  const run = spawnSync(
    gitleaks,
    [
      "git",
      "--config",
      config,
      "--redact",
      "--no-banner",
      "--log-level",
      "warn",
      "--exit-code",
      "3",
      "--report-format",
      "json",
      "--report-path",
      report,
      repo,
    ],
    { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
  );
  if (run.status !== 0 && run.status !== 3)
    throw new Error(`gitleaks failed (exit ${run.status}): ${run.stderr.trim() || run.error?.message}`);
  const found = JSON.parse(readFileSync(report, "utf8")) as Array<{
    RuleID: string;
    File: string;
    StartLine: number;
    Commit: string;
  }>;
  return found.map((f) => ({ rule: f.RuleID, file: f.File, line: f.StartLine, commit: f.Commit }));
}

if (import.meta.main) {
  try {
    const findings = scanHistory();
    for (const f of findings) console.error(`${f.commit.slice(0, 12)} ${f.file}:${f.line} ${f.rule}`);
    if (findings.length) {
      console.error(
        `\nsecrets:history: ${findings.length} finding(s) in the git history. A real secret must be rotated ` +
          "(removing it from history does not un-leak it); a public test value goes in .gitleaks.toml's allowlist.",
      );
      process.exitCode = 1;
    } else console.log("secrets:history: no secret in any commit");
  } catch (error) {
    console.error(`secrets:history cannot run: ${(error as Error).message}`);
    process.exitCode = 2;
  }
}
