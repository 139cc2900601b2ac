// `npm run plan` as a platform engineer runs it: a child process, its stdout and exit code.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

import { describe, expect, it } from "vitest";

import type { PlannedStack } from "./plan.ts";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "..");
const node =
  Number(process.versions.node.split(".")[0]) >= 24
    ? process.execPath
    : path.join(root, "node_modules/.bin/node");
const manifests = existsSync(path.join(root, "operators/deploy/crds.yaml"))
  ? []
  : ["--config", "operatorManifestsDir=stacks/testdata/operators"];

function plan(...args: string[]) {
  return run(node, ["stacks/plan-cli.ts", ...args, ...manifests], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
}

// Each run is a Node process planning a stack (~2.5 s alone); a shared 2-core machine can be much slower.
const TIMEOUT = 120_000;

describe("npm run plan", () => {
  it(
    "prints the resource tree indented by parent, with the properties that matter for review",
    async () => {
      const { stdout } = await plan("--stack", "prod-secondary");
      const lines = stdout.split("\n");
      expect(lines[0]).toMatch(/^freight-platform\/prod-secondary: \d+ resources$/);
      const component = lines.findIndex((l) => l === "  freight:database:Database database");
      expect(component).toBeGreaterThan(0);
      const replica = lines.findIndex((l) =>
        l.startsWith("    aws:rds/instance:Instance database-replica [protected"),
      );
      expect(replica).toBeGreaterThan(component);
      expect(lines[replica + 1]).toContain(
        "replicaOf=arn:aws:rds:us-east-1:123456789012:db:freight-us-east-1-primary",
      );
      expect(stdout).toMatch(
        /aws:route53\/record:Record dns-weighted \[ignoreChanges: weightedRoutingPolicies\]/,
      );
      expect(stdout).toMatch(/planned in \d+\.\d s/);
    },
    TIMEOUT,
  );

  it(
    "prints the PlannedStack JSON with --json",
    async () => {
      const { stdout } = await plan("--stack", "prod-primary", "--json");
      const parsed = JSON.parse(stdout) as PlannedStack;
      expect(parsed.stack).toBe("prod-primary");
      expect(parsed.project).toBe("freight-platform");
      expect(parsed.config["freight:role"]).toBe("primary");
      expect(
        parsed.resources.find((r) => r.type === "aws:s3/bucketReplicationConfig:BucketReplicationConfig"),
      ).toBeDefined();
    },
    TIMEOUT,
  );

  it(
    "exits non-zero with the config problems when a key is wrong",
    async () => {
      const failure = plan("--stack", "prod-primary", "--config", "freight:role=leader");
      await expect(failure).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining("freight:role"),
      });
      await expect(failure).rejects.toMatchObject({
        stderr: expect.stringContaining("fix: pulumi config set freight:role primary --stack prod-primary"),
      });
    },
    TIMEOUT,
  );

  it(
    "shows usage without --stack",
    async () => {
      await expect(run(node, ["stacks/plan-cli.ts"], { cwd: root })).rejects.toMatchObject({
        code: 64,
        stderr: expect.stringContaining("--stack <prod-primary|prod-secondary>"),
      });
    },
    TIMEOUT,
  );
});
