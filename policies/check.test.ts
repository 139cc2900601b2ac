// End to end: the real region stacks planned offline (stacks/plan.ts) and checked by the whole pack.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { STACKS, formatReport, main, runCheck, summarize } from "./check.ts";
import { expectedBrokenViolations } from "./fixtures/broken.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PLAN_TIMEOUT = 180_000;

function npmRun(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("npm", ["run", "--silent", "policy:check", "--", ...args], {
      cwd: ROOT,
      env: process.env,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("policy:check on the region stacks", () => {
  it(
    "passes both stacks cleanly",
    async () => {
      const run = await runCheck({ stacks: STACKS });
      expect(run.reports.map((r) => r.stack)).toEqual(["prod-primary", "prod-secondary"]);
      for (const report of run.reports) {
        expect(report.resources).toBeGreaterThan(50);
        expect(report.violations, formatReport(run)).toEqual([]);
        expect(report.undecided).toEqual([]);
      }
      expect(formatReport(run)).toMatch(
        /0 mandatory, 0 advisory violations on 0 resources, of [1-9]\d+ checked in 2 stacks/,
      );
    },
    PLAN_TIMEOUT,
  );

  it(
    "catches exactly the six breakages of the broken copy: public bucket, 365-day rotation, a workload without network policy, edge behaviour without the edge function, unencrypted replica, image by tag",
    async () => {
      const run = await runCheck({ stacks: STACKS, fixture: "broken" });
      const found = run.reports.flatMap((r) =>
        r.violations.map((v) => ({
          stack: v.stack,
          policy: v.policy,
          type: /\(([^)]+)\)$/.exec(v.resource)?.[1],
          level: v.enforcementLevel,
        })),
      );
      const expected = STACKS.flatMap((stack) =>
        expectedBrokenViolations(stack).map((e) => ({ stack, ...e, level: "mandatory" })),
      );
      expect(found).toEqual(expected);
      expect(found.map((f) => f.policy)).toEqual([
        "s3-bucket-public-access-blocked",
        "cloudfront-edge-function-identical",
        "secrets-rotation-window",
        "k8s-pods-default-deny",
        "rds-encrypted-at-rest",
        "k8s-image-pinned-by-digest",
      ]);
      const messages = run.reports.flatMap((r) => r.violations.map((v) => v.message)).join("\n");
      expect(messages).toContain("rotating every 365 days");
      expect(messages).toContain(
        "behaviour /v1/bulk-jobs/*/results.csv of edge-distribution runs no viewer-request function",
      );
      expect(messages).toContain("cross-region replica without a KMS key");
      expect(messages).toMatch(
        /container "runner" uses "[^"]+\/freight\/quote-api:2026\.11\.26-3f9c2ab", which is not pinned by digest/,
      );
      expect(messages).toContain(
        "scheduled-jobs-exec-report (kubernetes:batch/v1:CronJob): runs pods in namespace reports that no default-deny NetworkPolicy selects for Ingress and Egress",
      );
      expect(summarize(run.reports)).toMatchObject({ mandatory: 6, advisory: 0, resources: 6, stacks: 2 });
      expect(summarize(run.reports).checked).toBe(run.reports.reduce((n, r) => n + r.resources, 0));
    },
    PLAN_TIMEOUT,
  );
});

describe("npm run policy:check", () => {
  it(
    "exits non-zero on the broken fixture and prints rule, resource, message, remediation and the summary",
    async () => {
      const { code, stdout } = await npmRun(["--fixture", "broken"]);
      expect(code).toBe(1);
      expect(stdout).toMatch(
        /MANDATORY s3-bucket-public-access-blocked\n {4}resource: {4}documents-bucket \(aws:s3\/bucket:Bucket\)/,
      );
      expect(stdout).toContain("MANDATORY secrets-rotation-window");
      expect(stdout).toContain("MANDATORY rds-encrypted-at-rest");
      expect(stdout).toContain("MANDATORY cloudfront-edge-function-identical");
      expect(stdout).toContain("MANDATORY k8s-image-pinned-by-digest");
      expect(stdout).toMatch(
        /MANDATORY k8s-pods-default-deny\n {4}resource: {4}scheduled-jobs-exec-report \(kubernetes:batch\/v1:CronJob\)/,
      );
      expect(stdout).toMatch(/remediation: add an aws\.s3\.BucketPublicAccessBlock/);
      expect(stdout).toMatch(
        /6 mandatory, 0 advisory violations on 6 resources, of [1-9]\d+ checked in 2 stacks \(\d+\.\d s\)/,
      );
    },
    PLAN_TIMEOUT,
  );
});

describe("policy:check arguments", () => {
  /** Runs the CLI entry in-process (spawning npm for each error case would only add start-up time). */
  async function runMain(args: string[]): Promise<{ code: number; stderr: string }> {
    const errors: string[] = [];
    const spy = vi
      .spyOn(console, "error")
      .mockImplementation((...parts: unknown[]) => void errors.push(parts.join(" ")));
    try {
      return { code: await main(args), stderr: errors.join("\n") };
    } finally {
      spy.mockRestore();
    }
  }

  it("rejects a bad policy config before planning, listing every problem (exit 2)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "policy-config-"));
    const file = path.join(dir, "config.json");
    writeFileSync(
      file,
      JSON.stringify({ "rds-backup-retention": { minimumRetentionDays: "7" }, typo: "advisory" }),
    );
    const { code, stderr } = await runMain(["--config", file]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      '"rds-backup-retention.minimumRetentionDays" must be of type integer, got string (for example 7).',
    );
    expect(stderr).toContain('"typo" is not a policy of this pack');
    writeFileSync(file, "{ not json");
    expect((await runMain(["--config", file])).stderr).toContain(`Policy config ${file} is not valid JSON`);
  });

  it("rejects unknown stacks, fixtures and options (exit 2)", async () => {
    const stack = await runMain(["--stack", "prod-tertiary"]);
    expect(stack).toEqual({
      code: 2,
      stderr: "Unknown stack prod-tertiary; stacks are prod-primary, prod-secondary.",
    });
    const fixture = await runMain(["--fixture", "haunted"]);
    expect(fixture).toEqual({ code: 2, stderr: 'Unknown fixture "haunted"; the only fixture is "broken".' });
    const option = await runMain(["--stacks", "prod-primary"]);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("Usage: npm run policy:check -- [--stack <name>]...");
  });
});

describe("the report", () => {
  it("shows each violation's rule, resource, message and remediation, advisory ones apart, and undecided checks", () => {
    const text = formatReport({
      seconds: 1.24,
      reports: [
        {
          stack: "prod-primary",
          resources: 2,
          violations: [
            {
              policy: "tags-required",
              enforcementLevel: "advisory",
              stack: "prod-primary",
              urn: "urn:pulumi:prod-primary::freight-platform::aws:kms/key:Key::documents-key",
              resource: "documents-key (aws:kms/key:Key)",
              message: "documents-key (aws:kms/key:Key): is missing the tag(s) owner.",
              remediation:
                "add \"owner\" to the aws provider's defaultTags.tags for this stack, or to the resource's tags.",
            },
          ],
          undecided: [
            {
              policy: "probe",
              stack: "prod-primary",
              urn: "urn:x",
              reason: "string value at .bucket can't be known during preview",
            },
          ],
        },
        { stack: "prod-secondary", resources: 1, violations: [], undecided: [] },
      ],
    });
    expect(text).toContain(
      [
        "prod-primary: 2 resources, 1 violation",
        "  advisory  tags-required",
        "    resource:    documents-key (aws:kms/key:Key)",
        "    message:     is missing the tag(s) owner.",
        "    remediation: add \"owner\" to the aws provider's defaultTags.tags for this stack, or to the resource's tags.",
        "  undecided probe on urn:x: string value at .bucket can't be known during preview",
        "",
        "prod-secondary: 1 resource, no violations",
      ].join("\n"),
    );
    expect(text).toContain("1 rule evaluation could not decide: values unknown until deployment.");
    expect(text.split("\n").at(-1)).toBe(
      "0 mandatory, 1 advisory violations on 1 resource, of 3 checked in 2 stacks (1.2 s)",
    );
  });
});
