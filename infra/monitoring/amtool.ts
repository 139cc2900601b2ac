// Alertmanager's own tooling (amtool and the server, from Debian's `prometheus-alertmanager`
// package) for checking the generated configuration: the parser and router Alertmanager itself uses,
// not a re-implementation.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";

export const ALERTMANAGER_INSTALL_HINT =
  "Install it with `apt-get install -y --no-install-recommends prometheus-alertmanager` (Debian ships " +
  "/usr/bin/amtool and /usr/bin/prometheus-alertmanager), or set AMTOOL / ALERTMANAGER to the binaries.";

/** $<envName>, else the first of `names` on PATH. Throws with the fix when missing. */
function binary(envName: string, names: string[]): string {
  const fromEnv = process.env[envName];
  if (fromEnv) {
    if (!existsSync(fromEnv))
      throw new Error(`${envName}=${fromEnv} does not exist. ${ALERTMANAGER_INSTALL_HINT}`);
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter).concat("/usr/bin")) {
    for (const name of names) {
      const candidate = join(dir, name);
      if (dir && existsSync(candidate)) return candidate;
    }
  }
  throw new Error(`${names.join(" / ")} was not found on PATH. ${ALERTMANAGER_INSTALL_HINT}`);
}

export const amtoolPath = () => binary("AMTOOL", ["amtool"]);
/** Debian names the server prometheus-alertmanager; upstream tarballs call it alertmanager. */
export const alertmanagerPath = () => binary("ALERTMANAGER", ["prometheus-alertmanager", "alertmanager"]);

/** Runs amtool; resolves with its exit code and combined output (a non-zero exit is an answer, not an error). */
export function amtool(args: string[]): Promise<{ exitCode: number; output: string }> {
  const path = amtoolPath();
  return new Promise((resolve, reject) => {
    execFile(path, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (error && typeof error.code !== "number") {
        reject(new Error(`amtool ${args.join(" ")} could not run: ${error.message}\n${output}`));
        return;
      }
      resolve({ exitCode: typeof error?.code === "number" ? error.code : 0, output });
    });
  });
}
