// The dependency side of the supply chain, as CI runs it after the tests:
//   npm run sbom          # CycloneDX SBOM of the lockfile -> .cache/supply-chain/sbom.json
//   npm run deps:check    # OSV advisories for package-lock.json -> .cache/supply-chain/osv.json
// deps:check asks OSV's API where the network allows (OSV_ONLINE=1, e.g. a CI with internet); else
// it runs offline against an advisory snapshot: OSV_SNAPSHOT_DIR (a directory laid out as
// osv-scanner's --download-offline-databases leaves it: <dir>/osv-scalibr/npm/all.zip; make one with
// `osv-scanner scan --offline-vulnerabilities --download-offline-databases -L package-lock.json` on a
// machine with internet and copy it here), or, without one, the small committed snapshot in
// tools/supply-chain/advisories (enough to prove the alert fires; not a full database: the report
// says which database was used). Exit 0: no known vulnerability; 1: vulnerabilities (listed); 2: cannot run.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureGoTool } from "./go-tools.ts";
import { REPO_ROOT } from "./secret-scan.ts";

export const OUT_DIR = join(REPO_ROOT, ".cache", "supply-chain");
export const COMMITTED_ADVISORIES = join(REPO_ROOT, "tools", "supply-chain", "advisories");

export function writeSbom(outFile = join(OUT_DIR, "sbom.json")): { components: number } {
  mkdirSync(OUT_DIR, { recursive: true });
  // From the lockfile alone: the same SBOM whatever node_modules holds, and no npm ls over it.
  const run = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, "node_modules", "@cyclonedx", "cyclonedx-npm", "bin", "cyclonedx-npm-cli.js"),
      "--package-lock-only",
      "--output-format",
      "JSON",
      "--output-reproducible",
      "--output-file",
      outFile,
    ],
    { cwd: REPO_ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  if (run.status !== 0)
    throw new Error(`cyclonedx-npm failed (exit ${run.status}): ${run.stderr.trim().slice(-2000)}`);
  const bom = JSON.parse(readFileSync(outFile, "utf8")) as { components?: unknown[] };
  return { components: bom.components?.length ?? 0 };
}

export interface DependencyFinding {
  package: string;
  advisories: string[];
}

export interface DependencyScan {
  database: string;
  /** How many packages the scanner found in the lockfile (its report lists only vulnerable ones). */
  packagesScanned: number;
  findings: DependencyFinding[];
}

/** osv-scanner's offline database layout, zipped from the committed OSV records. */
function snapshotFromCommitted(): string {
  const dir = mkdtempSync(join(tmpdir(), "osv-snapshot-"));
  for (const ecosystem of readdirSync(COMMITTED_ADVISORIES)) {
    const target = join(dir, "osv-scalibr", ecosystem);
    mkdirSync(target, { recursive: true });
    const zip = spawnSync("zip", [
      "-q",
      "-j",
      join(target, "all.zip"),
      ...readdirSync(join(COMMITTED_ADVISORIES, ecosystem)).map((f) =>
        join(COMMITTED_ADVISORIES, ecosystem, f),
      ),
    ]);
    if (zip.status !== 0) throw new Error(`zip failed: ${zip.stderr?.toString()} (apt-get install zip)`);
  }
  return dir;
}

export function scanLockfile(
  lockfile: string,
  options: { online?: boolean; snapshotDir?: string; outFile?: string } = {},
): DependencyScan {
  const scanner = ensureGoTool("osv-scanner", (line) => console.error(line));
  const built = options.online || options.snapshotDir ? undefined : snapshotFromCommitted();
  const snapshot = options.snapshotDir ?? built;
  try {
    const outFile = options.outFile ?? join(mkdtempSync(join(tmpdir(), "osv-out-")), "osv.json");
    mkdirSync(join(outFile, ".."), { recursive: true });
    const args = ["scan", "source", "--format", "json", "--output-file", outFile, "--lockfile", lockfile];
    if (!options.online) args.splice(2, 0, "--offline-vulnerabilities");
    const run = spawnSync(scanner, args, {
      encoding: "utf8",
      env: { ...process.env, ...(snapshot ? { OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY: snapshot } : {}) },
      maxBuffer: 64 * 1024 * 1024,
    });
    // 0: nothing found, 1: vulnerabilities found; anything else is the scanner failing.
    if (run.status !== 0 && run.status !== 1)
      throw new Error(
        `osv-scanner failed (exit ${run.status}): ${(run.stderr || run.stdout).trim().slice(-2000)}`,
      );
    const report = JSON.parse(readFileSync(outFile, "utf8")) as {
      results?: {
        packages?: { package: { name: string; version: string }; vulnerabilities?: { id: string }[] }[];
      }[];
    };
    const findings = (report.results ?? []).flatMap((r) =>
      (r.packages ?? [])
        .filter((p) => p.vulnerabilities?.length)
        .map((p) => ({
          package: `${p.package.name}@${p.package.version}`,
          advisories: p.vulnerabilities!.map((v) => v.id),
        })),
    );
    const database = options.online
      ? "OSV API (online)"
      : options.snapshotDir
        ? `offline snapshot ${options.snapshotDir}`
        : "committed advisory snapshot (tools/supply-chain/advisories)";
    const scanned = /found (\d+) packages?\b/.exec(`${run.stdout}${run.stderr}`);
    return { database, packagesScanned: scanned ? Number(scanned[1]) : 0, findings };
  } finally {
    if (built) rmSync(built, { recursive: true, force: true });
  }
}

function main(argv: string[]): number {
  const [command] = argv;
  if (command === "sbom") {
    const { components } = writeSbom();
    console.log(`sbom: CycloneDX SBOM of ${components} components in ${join(OUT_DIR, "sbom.json")}`);
    return 0;
  }
  if (command === "check") {
    const scan = scanLockfile(join(REPO_ROOT, "package-lock.json"), {
      online: process.env.OSV_ONLINE === "1",
      snapshotDir: process.env.OSV_SNAPSHOT_DIR || undefined,
      outFile: join(OUT_DIR, "osv.json"),
    });
    for (const f of scan.findings) console.error(`${f.package}: ${f.advisories.join(", ")}`);
    console.log(
      `deps:check: ${scan.findings.length} vulnerable packages in package-lock.json (database: ${scan.database})`,
    );
    return scan.findings.length ? 1 : 0;
  }
  console.error(
    "Usage: node tools/supply-chain/dependencies.ts sbom|check (npm run sbom, npm run deps:check)",
  );
  return 2;
}

if (import.meta.main) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 2;
  }
}
