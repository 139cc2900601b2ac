// Points git at the committed hooks (.githooks: the pre-commit secret scan). Run by `npm run
// hooks:install`, and by npm's `prepare` after `npm install`/`npm ci`, so a fresh clone gets the hook
// without a manual step. Outside a git work tree (an image build from a tarball) there is nothing to
// install, and that is not an error: `npm ci` must never fail here.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";

const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
export const HOOKS_DIR = ".githooks";

export function installHooks(repo: string = REPO_ROOT): string {
  const inside = spawnSync("git", ["rev-parse", "--is-inside-work-tree"], { cwd: repo, encoding: "utf8" });
  if (inside.status !== 0 || inside.stdout.trim() !== "true")
    return `not a git work tree (${repo}): no hooks to install`;
  if (!existsSync(join(repo, HOOKS_DIR, "pre-commit")))
    return `${HOOKS_DIR}/pre-commit is missing: nothing installed`;
  // A checkout from an archive may lose the executable bit; git skips a hook without it.
  chmodSync(join(repo, HOOKS_DIR, "pre-commit"), 0o755);
  // Relative: each worktree resolves it against its own root.
  const set = spawnSync("git", ["config", "core.hooksPath", HOOKS_DIR], { cwd: repo, encoding: "utf8" });
  if (set.status !== 0) return `could not set core.hooksPath: ${set.stderr.trim()}`;
  return `git hooks installed: core.hooksPath=${HOOKS_DIR} (pre-commit scans staged files for secrets)`;
}

if (import.meta.main) console.log(installHooks());
