// Builds the network-policy verdicts tool (tools/netpol/main.go, cyclonus's matcher from Go
// modules) into .cache/netpol/bin, again only when its Go inputs change. It shares k8s.io/api,
// apimachinery and client-go with the local control plane at the same versions and build flags, so
// after `npm run cluster:build` the Go build cache holds most of it and this build compiles only
// cyclonus and a few small modules (see docs/benchmarks.md for the time). Run directly (`npm run netpol:build`) or through ensureNetpolBuilt().
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { goBinary, goVersion, repoRoot, withBuildLock, type Log } from "../localcluster/build.ts";

const sourceDir = import.meta.dirname;
const cacheDir = join(repoRoot, ".cache", "netpol");
export const verdictsBinary = join(cacheDir, "bin", "netpol-verdicts");
const stampPath = `${verdictsBinary}.stamp`;
const lockPath = join(cacheDir, "build.lock");
// The same flags as the control plane's build, so the packages both compile are shared in the cache.
const goBuildFlags = ["-pgo=off", "-p", "2"];

const defaultLog: Log = (line) => process.stderr.write(`[netpol] ${line}\n`);

function inputsHash(): string {
  const hash = createHash("sha256");
  hash.update(`${goVersion()}\n${goBuildFlags.join(" ")}\n`);
  for (const file of ["go.mod", "go.sum", "main.go"]) {
    hash.update(`${file}\n`);
    hash.update(readFileSync(join(sourceDir, file)));
  }
  return hash.digest("hex");
}

function isUpToDate(hash: string): boolean {
  return (
    existsSync(verdictsBinary) && existsSync(stampPath) && readFileSync(stampPath, "utf8").trim() === hash
  );
}

function goBuild(output: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = ["-n", "10", goBinary(), "build", ...goBuildFlags, "-ldflags", "-s -w", "-o", output, "."];
    const child = spawn("nice", args, { cwd: sourceDir, stdio: ["ignore", "inherit", "pipe"] });
    let errors = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => (errors += chunk));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`go build of tools/netpol failed (exit ${code}):\n${errors.trim()}`)),
    );
  });
}

/** The path of an up-to-date netpol-verdicts binary, built first when missing or stale. */
export async function ensureNetpolBuilt(options: { log?: Log } = {}): Promise<string> {
  const log = options.log ?? defaultLog;
  if (isUpToDate(inputsHash())) return verdictsBinary;
  return withBuildLock(lockPath, log, async () => {
    const hash = inputsHash();
    if (isUpToDate(hash)) return verdictsBinary;
    log(`building the network-policy verdicts tool (cyclonus) into ${verdictsBinary}`);
    const started = Date.now();
    mkdirSync(join(cacheDir, "bin"), { recursive: true });
    const output = `${verdictsBinary}.tmp`;
    try {
      await goBuild(output);
    } catch (error) {
      rmSync(output, { force: true });
      throw error;
    }
    renameSync(output, verdictsBinary);
    writeFileSync(stampPath, `${hash}\n`);
    log(`built in ${Math.round((Date.now() - started) / 1000)}s`);
    return verdictsBinary;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureNetpolBuilt().then(
    (path) => defaultLog(`ready: ${path}`),
    (error: unknown) => {
      defaultLog(error instanceof Error ? error.message : String(error));
      process.exitCode = 1;
    },
  );
}
