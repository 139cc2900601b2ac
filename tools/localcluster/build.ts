// Builds the local control plane (tools/localcluster, a Go program embedding
// etcd and kube-apiserver) into .cache/localcluster/bin, and rebuilds only when
// its inputs changed. Run directly (`npm run cluster:build`) or through
// ensureBuilt() from the test fixture.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const sourceDir = import.meta.dirname;
export const repoRoot = resolve(sourceDir, "..", "..");
export const cacheDir = join(repoRoot, ".cache", "localcluster");
export const binaryPath = join(cacheDir, "bin", "localcluster");
const stampPath = `${binaryPath}.stamp`;
const lockPath = join(cacheDir, "build.lock");

// -pgo=off: kube-apiserver ships a default.pgo profile; a profile-guided build
// of it takes far longer for no benefit in tests.
const goBuildFlags = ["-pgo=off", "-mod=mod", "-p", "2"];

export type Log = (line: string) => void;
const defaultLog: Log = (line) => process.stderr.write(`[localcluster] ${line}\n`);

/** The release of k8s.io/kubernetes pinned in go.mod, e.g. "v1.37.2". */
export function kubernetesVersion(): string {
  const goMod = readFileSync(join(sourceDir, "go.mod"), "utf8");
  const match = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m.exec(goMod);
  if (!match?.[1]) throw new Error(`${sourceDir}/go.mod does not require k8s.io/kubernetes vX.Y.Z`);
  return match[1];
}

/** `go` from PATH, else the usual install location (CI shells may not source a profile). */
export function goBinary(): string {
  if (process.env.GO) return process.env.GO;
  const onPath = spawnSync("go", ["version"], { encoding: "utf8" });
  if (!onPath.error && onPath.status === 0) return "go";
  return existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go";
}

export function goVersion(): string {
  const result = spawnSync(goBinary(), ["version"], { encoding: "utf8" });
  if (result.error || result.status !== 0) {
    throw new Error(
      "The local control plane is built from Go modules, but `go` was not found on PATH. " +
        "Install Go 1.26 (e.g. from your package manager) and retry.",
    );
  }
  return result.stdout.trim();
}

function inputsHash(version: string): string {
  const hash = createHash("sha256");
  hash.update(`${goVersion()}\n${goBuildFlags.join(" ")}\n${version}\n`);
  const files = readdirSync(sourceDir)
    .filter((f) => f === "go.mod" || f === "go.sum" || (f.endsWith(".go") && !f.endsWith("_test.go")))
    .sort();
  for (const file of files) {
    hash.update(`${file}\n`);
    hash.update(readFileSync(join(sourceDir, file)));
  }
  return hash.digest("hex");
}

function ldflags(version: string): string {
  const [major, minor] = version.slice(1).split(".");
  const pkg = "k8s.io/component-base/version";
  return [
    "-s",
    "-w",
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    // Built from the published module archive: there is no git commit to report.
    `-X ${pkg}.gitCommit=`,
    `-X ${pkg}.gitTreeState=archive`,
    `-X ${pkg}.buildDate=${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
  ].join(" ");
}

function isUpToDate(hash: string): boolean {
  return existsSync(binaryPath) && existsSync(stampPath) && readFileSync(stampPath, "utf8").trim() === hash;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One builder at a time across processes (vitest runs test files in parallel). */
export async function withBuildLock<T>(lockPath: string, log: Log, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(lockPath), { recursive: true });
  let waitingSince = 0;
  for (;;) {
    try {
      const fd = openSync(lockPath, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(readFileSync(lockPath, "utf8").trim());
      if (!holder || !processAlive(holder)) {
        rmSync(lockPath, { force: true });
        continue;
      }
      if (!waitingSince) {
        waitingSince = Date.now();
        log(`waiting for the build running in process ${holder}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockPath, { force: true });
  }
}

function countPackages(): number | undefined {
  const result = spawnSync(goBinary(), ["list", "-mod=mod", "-deps", "."], {
    cwd: sourceDir,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return result.status === 0 ? result.stdout.split("\n").filter(Boolean).length : undefined;
}

function runGoBuild(version: string, log: Log): Promise<void> {
  log("resolving Go modules (a fresh machine downloads about 560 MiB from the module proxy first)");
  const total = countPackages();
  const output = `${binaryPath}.tmp`;
  const args = [
    "-n",
    "10",
    goBinary(),
    "build",
    "-v",
    ...goBuildFlags,
    "-ldflags",
    ldflags(version),
    "-o",
    output,
    ".",
  ];
  log(`go ${args.slice(3).join(" ")}`);
  const started = Date.now();
  const child = spawn("nice", args, { cwd: sourceDir, stdio: ["ignore", "inherit", "pipe"] });
  let compiled = 0;
  let last = "";
  const errors: string[] = [];
  let pending = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      // `go build -v` names each package as it compiles; anything else is a diagnostic.
      if (/^[\w.\-/]+$/.test(line)) {
        compiled += 1;
        last = line;
      } else if (line.trim()) {
        errors.push(line);
      }
    }
  });
  const progress = setInterval(() => {
    const seconds = Math.round((Date.now() - started) / 1000);
    const of = total ? `/${total}` : "";
    log(`building: ${compiled}${of} packages compiled (${seconds}s) ${last}`);
  }, 15_000);
  return new Promise((resolvePromise, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(progress);
      if (code !== 0) {
        rmSync(output, { force: true });
        reject(new Error(`go build of tools/localcluster failed (exit ${code}):\n${errors.join("\n")}`));
        return;
      }
      log(`built in ${Math.round((Date.now() - started) / 1000)}s (${compiled} packages compiled)`);
      resolvePromise();
    });
  });
}

/**
 * Returns the path of an up-to-date localcluster binary, building it first
 * when it is missing or its go.mod, go.sum or Go sources changed. A cold build
 * compiles kube-apiserver and takes 5-15 minutes on two cores.
 */
export async function ensureBuilt(options: { log?: Log; force?: boolean } = {}): Promise<string> {
  const log = options.log ?? defaultLog;
  const version = kubernetesVersion();
  if (!options.force && isUpToDate(inputsHash(version))) return binaryPath;
  return withBuildLock(lockPath, log, async () => {
    const hash = inputsHash(version);
    if (!options.force && isUpToDate(hash)) return binaryPath;
    log(`building kube-apiserver ${version} + etcd into ${binaryPath}`);
    log("a cold build takes 5-15 minutes on two cores; later builds reuse the Go build cache");
    mkdirSync(join(cacheDir, "bin"), { recursive: true });
    await runGoBuild(version, log);
    renameSync(`${binaryPath}.tmp`, binaryPath);
    writeFileSync(stampPath, `${hash}\n`);
    return binaryPath;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes("--force");
  ensureBuilt({ force }).then(
    (path) => defaultLog(`ready: ${path}`),
    (error: unknown) => {
      defaultLog(error instanceof Error ? error.message : String(error));
      process.exitCode = 1;
    },
  );
}
