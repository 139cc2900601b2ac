// Secret scanning as a developer meets it: the committed pre-commit hook, installed the way npm's
// prepare installs it, refuses a commit carrying a planted AWS key or a private key (both made here at
// run time, so no key is ever committed), lets a clean commit through, and the whole-tree scan that
// `npm test` runs finds this repository clean within the 10 s goal.
import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installHooks } from "./install-hooks.ts";
import { REPO_ROOT, scanTree } from "./secret-scan.ts";

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const upper = (n: number) => [...randomBytes(n)].map((b) => ALNUM[b % ALNUM.length]).join("");
/** An access key id of the shape AWS issues, never a real one. */
const fakeAwsKeyId = () => `AK${"IA"}${upper(16)}`;
// Letters and digits only: the rule's pattern ends on a word boundary, which a trailing + or / misses.
const fakeAwsSecret = () =>
  [...randomBytes(40)]
    .map((b) => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[b % 62])
    .join("");

let repo: string;
const git = (...args: string[]) =>
  spawnSync("git", args, {
    cwd: repo,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  });

beforeAll(() => {
  // A throw-away project with the real scanner, config and hooks; node_modules is the real one.
  repo = mkdtempSync(join(tmpdir(), "secret-scan-"));
  execFileSync("git", ["init", "-q", "-b", "main"], { cwd: repo });
  mkdirSync(join(repo, "tools", "supply-chain"), { recursive: true });
  mkdirSync(join(repo, ".githooks"));
  for (const file of [
    ".secretlintrc.json",
    ".githooks/pre-commit",
    "tools/supply-chain/secret-scan.ts",
    "tools/supply-chain/install-hooks.ts",
  ])
    copyFileSync(join(REPO_ROOT, file), join(repo, file));
  symlinkSync(join(REPO_ROOT, "node_modules"), join(repo, "node_modules"));
  writeFileSync(join(repo, ".gitignore"), "node_modules\n");
  expect(installHooks(repo)).toMatch(/core.hooksPath=.githooks/);
});

afterAll(() => rmSync(repo, { recursive: true, force: true }));

describe("the pre-commit hook", () => {
  it("refuses a commit with an AWS access key and names the file and the rule", () => {
    writeFileSync(
      join(repo, "deploy.env"),
      `AWS_ACCESS_KEY_ID=${fakeAwsKeyId()}\nAWS_SECRET_ACCESS_KEY=${fakeAwsSecret()}\n`,
    );
    git("add", "deploy.env");
    const commit = git("commit", "-q", "-m", "deploy settings");
    expect(commit.status).not.toBe(0);
    expect(commit.stderr + commit.stdout).toMatch(/deploy\.env/);
    expect(commit.stderr + commit.stdout).toMatch(/AWS/);
    expect(git("rev-parse", "--verify", "HEAD").status).not.toBe(0);
    git("rm", "-q", "--cached", "-f", "deploy.env");
    rmSync(join(repo, "deploy.env"));
  });

  it("refuses a private key even when the working copy no longer holds it (the index is what commits)", () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    writeFileSync(join(repo, "signing.pem"), privateKey.export({ type: "pkcs1", format: "pem" }));
    git("add", "signing.pem");
    writeFileSync(join(repo, "signing.pem"), "moved to the secret store\n");
    const commit = git("commit", "-q", "-m", "signing key");
    expect(commit.status).not.toBe(0);
    expect(commit.stderr + commit.stdout).toMatch(
      /signing\.pem[\s\S]*PRIVATE.?KEY|PRIVATE.?KEY[\s\S]*signing\.pem/i,
    );
    git("rm", "-q", "--cached", "-f", "signing.pem");
    rmSync(join(repo, "signing.pem"));
  });

  it("lets a clean commit through, and the allowlisted public Stripe test key (not another) passes", () => {
    writeFileSync(join(repo, "fixture.ts"), `export const key = "sk_test_4eC39HqLyjWDarjtT1zdp7dc";\n`);
    git("add", ".gitignore", ".secretlintrc.json", ".githooks", "tools", "fixture.ts");
    const commit = git("commit", "-q", "-m", "clean");
    expect(commit.stderr).toMatch(/no secret in 6 staged files/);
    expect(commit.status).toBe(0);

    writeFileSync(join(repo, "other.ts"), `export const key = "sk_test_${upper(24)}";\n`);
    const tree = scanTree(repo);
    expect(tree.ok).toBe(false);
    expect(tree.report).toMatch(/other\.ts/);
    expect(tree.report).not.toMatch(/fixture\.ts/);
    rmSync(join(repo, "other.ts"));
  });
});

describe("the whole-tree scan in npm test", () => {
  // The goal is 10 s (about 5 s measured on an idle two-core machine); the bound leaves room for a
  // machine shared with other test runs, where wall time stretches with nothing wrong in the scan.
  it("finds no secret in this repository, well within the 10 s goal on an idle machine", () => {
    const started = performance.now();
    const result = scanTree();
    const seconds = (performance.now() - started) / 1000;
    expect(result.report).toBe("");
    expect(result.ok).toBe(true);
    expect(result.files).toBeGreaterThan(100);
    expect(seconds).toBeLessThan(30);
  });
});
