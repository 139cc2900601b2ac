// Runs Prometheus' own rule tooling (promtool, from Debian's `prometheus` package) on the generated
// rules, so validation is the parser and evaluator Prometheus itself uses, not a re-implementation.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";

export const PROMTOOL_INSTALL_HINT =
  "Install it with `apt-get install -y --no-install-recommends prometheus` (Debian ships /usr/bin/promtool in that package), " +
  "or set PROMTOOL to the path of a promtool binary.";

/** The promtool binary: $PROMTOOL, else the first `promtool` on PATH. Throws with the fix when missing. */
export function promtoolPath(): string {
  const fromEnv = process.env.PROMTOOL;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`PROMTOOL=${fromEnv} does not exist. ${PROMTOOL_INSTALL_HINT}`);
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter).concat("/usr/bin")) {
    const candidate = join(dir, "promtool");
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(`promtool was not found on PATH. ${PROMTOOL_INSTALL_HINT}`);
}

export interface PromtoolResult {
  exitCode: number;
  output: string;
}

/** Runs promtool with the given arguments; resolves with its exit code and combined output. */
export function promtool(
  args: string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<PromtoolResult> {
  const binary = promtoolPath();
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`;
        if (error && typeof error.code !== "number") {
          reject(new Error(`promtool ${args.join(" ")} could not run: ${error.message}\n${output}`));
          return;
        }
        resolve({ exitCode: typeof error?.code === "number" ? error.code : 0, output });
      },
    );
  });
}
