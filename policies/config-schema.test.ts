// Every setting of every policy validated against its full schema: each wrong shape is refused with
// the path to the bad value, all problems of a file in one message (exit 2 from policy:check), and
// no rule ever runs on a config that does not fit its schema.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema.js";
import type { PolicyPackConfig } from "@pulumi/policy";
import { describe, expect, it, vi } from "vitest";
import { main } from "./check.ts";
import { unsupportedKeywords } from "./config-schema.ts";
import { checkStack, validatePackConfig } from "./offline.ts";
import { rules } from "./pack.ts";
import { plan, res } from "./testing.ts";

/** Values of the wrong shape for a setting of this schema, each with what the message must say. */
function wrongShapes(schema: PolicyConfigJSONSchema): [unknown, RegExp][] {
  const item = typeof schema.items === "object" && !Array.isArray(schema.items) ? schema.items : undefined;
  switch (schema.type) {
    case "integer":
      return [
        ["7", /must be of type integer, got string/],
        [3.5, /must be of type integer, got number/],
        [[7], /must be of type integer, got array/],
        [{ days: 7 }, /must be of type integer, got object/],
        [null, /must be of type integer, got null/],
        [-1, /must be at least/],
        [1e9, /must be at most/],
      ];
    case "string":
      return [
        [7, /must be of type string, got integer/],
        [["doc"], /must be of type string, got array/],
        [{ pattern: "x" }, /must be of type string, got object/],
        [true, /must be of type string, got boolean/],
        ...(schema.format === "regex"
          ? ([["(unclosed", /must be a regular expression/]] as [unknown, RegExp][])
          : []),
      ];
    case "array":
      return [
        ["owner", /must be of type array, got string/],
        [5, /must be of type array, got integer/],
        [{ 0: "owner" }, /must be of type array, got object/],
        [[1, 2], /\[0\]" must be of type string, got integer/],
        [["ok", { tag: "x" }], /\[1\]" must be of type string, got object/],
        ...(item?.enum
          ? ([[["api", "kube"], /\[1\]" must be one of .*; got "kube"/]] as [unknown, RegExp][])
          : []),
      ];
    case "object":
      return [
        ["us-east-1", /must be of type object, got string/],
        [["us-east-1"], /must be of type object, got array/],
        [5, /must be of type object, got integer/],
        [{ "prod-primary": "us-east-1" }, /\.prod-primary" must be of type array, got string/],
        [{ "prod-primary": [1] }, /\.prod-primary\[0\]" must be of type string, got integer/],
      ];
    default:
      throw new Error(`no wrong shapes for a setting of type ${String(schema.type)}: add them here`);
  }
}

const settings = rules.flatMap((rule) =>
  Object.entries(rule.configSchema?.properties ?? {}).map(([key, schema]) => ({
    policy: rule.name,
    key,
    schema: schema as PolicyConfigJSONSchema,
  })),
);

describe("policy config validated against each setting's full schema", () => {
  it("covers every setting the pack declares, with only keywords the validator checks", () => {
    expect(settings.length).toBeGreaterThanOrEqual(12);
    for (const rule of rules) {
      for (const [key, schema] of Object.entries(rule.configSchema?.properties ?? {}))
        expect(unsupportedKeywords(schema), `${rule.name}.${key}`).toEqual([]);
    }
  });

  it.each(settings)(
    "refuses every wrong shape of $policy.$key, naming the value's path",
    ({ policy, key, schema }) => {
      for (const [value, message] of wrongShapes(schema)) {
        const problems = validatePackConfig(rules, { [policy]: { [key]: value } } as PolicyPackConfig);
        expect(problems.length, `${policy}.${key} = ${JSON.stringify(value)}`).toBeGreaterThan(0);
        expect(problems.join("\n"), `${policy}.${key} = ${JSON.stringify(value)}`).toMatch(message);
        expect(problems.join("\n")).toContain(`"${policy}.${key}`);
      }
      // The default is, of course, valid.
      expect(validatePackConfig(rules, { [policy]: { [key]: schema.default } } as PolicyPackConfig)).toEqual(
        [],
      );
    },
  );

  it("refuses a policy set to something that is neither a level nor an object of settings", () => {
    const config = {
      "rds-backup-retention": 14,
      "tags-required": ["owner"],
      "s3-bucket-lifecycle": null,
      "eks-control-plane-logging": true,
    } as unknown as PolicyPackConfig;
    expect(validatePackConfig(rules, config)).toEqual([
      '"rds-backup-retention" must be one of advisory, mandatory, remediate, disabled or an object of its settings (minimumRetentionDays), got integer.',
      '"tags-required" must be one of advisory, mandatory, remediate, disabled or an object of its settings (requiredTags), got array.',
      '"s3-bucket-lifecycle" must be one of advisory, mandatory, remediate, disabled or an object of its settings (archiveStorageClasses), got null.',
      '"eks-control-plane-logging" must be one of advisory, mandatory, remediate, disabled or an object of its settings (requiredLogTypes), got boolean.',
    ]);
    expect(validatePackConfig(rules, [1, 2] as unknown as PolicyPackConfig)).toEqual([
      "The policy config must be a JSON object of policy names to a level or to settings, got array.",
    ]);
  });

  it("never runs a rule on a config of the wrong shape (no bogus violations, no crash)", async () => {
    const bucket = res("aws:s3/bucket:Bucket", "documents-bucket", { bucket: "docs" });
    await expect(
      checkStack(plan([bucket]), {
        rules,
        config: { "tags-required": { requiredTags: [1, 2] } } as unknown as PolicyPackConfig,
      }),
    ).rejects.toThrow(/"tags-required\.requiredTags\[0\]" must be of type string, got integer/);
  });
});

describe("npm run policy:check -- --config with wrong shapes", () => {
  async function runMain(args: string[]): Promise<{ code: number; stderr: string }> {
    const errors: string[] = [];
    const spy = vi
      .spyOn(console, "error")
      .mockImplementation((...parts: unknown[]) => void errors.push(parts.map(String).join(" ")));
    try {
      return { code: await main(args), stderr: errors.join("\n") };
    } finally {
      spy.mockRestore();
    }
  }

  function configFile(content: unknown): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "policy-config-")), "config.json");
    writeFileSync(file, JSON.stringify(content));
    return file;
  }

  it("lists every problem in one message and exits 2, without a stack trace", async () => {
    const file = configFile({
      "rds-backup-retention": 14,
      "tags-required": { requiredTags: [1, 2] },
      "data-residency-allowed-regions": { allowedRegions: "us-east-1", defaultAllowedRegions: [7] },
      "eks-control-plane-logging": { requiredLogTypes: ["api", "kube"] },
      "s3-primary-document-replication": { documentBucketPattern: "(doc" },
    });
    const { code, stderr } = await runMain(["--config", file]);
    expect(code).toBe(2);
    expect(stderr.split("\n")[0]).toBe("Invalid policy pack config:");
    for (const expected of [
      '"rds-backup-retention" must be one of advisory, mandatory, remediate, disabled or an object of its settings',
      '"tags-required.requiredTags[0]" must be of type string, got integer.',
      '"tags-required.requiredTags[1]" must be of type string, got integer.',
      '"data-residency-allowed-regions.allowedRegions" must be of type object, got string (for example {"prod-primary":["us-east-1"],"prod-secondary":["us-west-2"]}).',
      '"data-residency-allowed-regions.defaultAllowedRegions[0]" must be of type string, got integer.',
      '"eks-control-plane-logging.requiredLogTypes[1]" must be one of api, audit, authenticator, controllerManager, scheduler; got "kube".',
      '"s3-primary-document-replication.documentBucketPattern" must be a regular expression',
    ])
      expect(stderr).toContain(expected);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses a file that is not an object of policies (exit 2)", async () => {
    for (const content of [null, [1, 2], 7, "advisory"]) {
      const { code, stderr } = await runMain(["--config", configFile(content)]);
      expect(code, JSON.stringify(content)).toBe(2);
      expect(stderr).toMatch(/must be a JSON object of policy names to a level or to settings, got \w+/);
    }
  });
});
