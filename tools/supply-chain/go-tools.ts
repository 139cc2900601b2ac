// The supply-chain scanners, built from their Go modules into .cache/go-tools/bin (there is no
// binary download on this machine, and none is committed): gitleaks for the git history, osv-scanner
// for dependency advisories. Each is rebuilt only when its pinned version changes.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./secret-scan.ts";

export const GO_TOOLS = {
  gitleaks: { module: "github.com/zricethezav/gitleaks/v8", version: "v8.30.1" },
  // v2.5.1: the newest release that builds with the machine's Go 1.26 (v2.6 needs Go 1.27).
  "osv-scanner": { module: "github.com/google/osv-scanner/v2/cmd/osv-scanner", version: "v2.5.1" },
} as const;
export type GoTool = keyof typeof GO_TOOLS;

const BIN_DIR = join(REPO_ROOT, ".cache", "go-tools", "bin");

function goBinary(): string {
  if (process.env.GO) return process.env.GO;
  const onPath = spawnSync("go", ["version"], { encoding: "utf8" });
  if (!onPath.error && onPath.status === 0) return "go";
  return existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go";
}

/** The tool's binary, built first if missing or of another version (a minute or two on two cores). */
export function ensureGoTool(tool: GoTool, log: (line: string) => void = () => undefined): string {
  const { module, version } = GO_TOOLS[tool];
  const binary = join(BIN_DIR, tool);
  const stamp = `${binary}.version`;
  if (existsSync(binary) && existsSync(stamp) && readFileSync(stamp, "utf8") === version) return binary;
  log(`building ${tool} ${version} from the Go module proxy`);
  mkdirSync(BIN_DIR, { recursive: true });
  const built = spawnSync(goBinary(), ["install", `${module}@${version}`], {
    env: { ...process.env, GOBIN: BIN_DIR, GOFLAGS: "-mod=mod" },
    encoding: "utf8",
  });
  if (built.error || built.status !== 0)
    throw new Error(
      `Building ${tool} failed (go install ${module}@${version}): ${built.error?.message ?? built.stderr.trim()}. ` +
        "It needs Go 1.26 (/usr/local/go/bin) and the Go module proxy.",
    );
  writeFileSync(stamp, version);
  return binary;
}
