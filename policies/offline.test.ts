import { describe, expect, it } from "vitest";
import type {
  PolicyPackConfig,
  PolicyResource,
  ResourceValidationArgs,
  StackValidationArgs,
} from "@pulumi/policy";
import type { Rule } from "./rules/common.ts";
import { UNKNOWN_STRING, check, plan, res } from "./testing.ts";
import { checkStack, defaultStackTags, validatePackConfig } from "./offline.ts";
import { rules } from "./pack.ts";

/** A rule that records the arguments it was called with, optionally reporting a violation. */
function probe(
  name: string,
  validate: (args: ResourceValidationArgs, report: (message: string) => void) => void | Promise<void>,
  extra: Partial<Rule> = {},
): Rule {
  return {
    name,
    description: `probe ${name}`,
    enforcementLevel: "mandatory",
    validateResource: validate,
    ...extra,
  } as Rule;
}

const bucket = res("aws:s3/bucket:Bucket", "documents-bucket", {
  bucket: "docs",
  tags: { team: "platform" },
});

describe("arguments the offline runner builds, as the policy runtime does", () => {
  it("passes type, name, urn, props, options, the resolved provider and stack tags", async () => {
    const seen: ResourceValidationArgs[] = [];
    const planned = plan([{ ...bucket, opts: { protect: true, ignoreChanges: ["tags"] } }]);
    await check(
      planned,
      probe("seen", (args) => void seen.push(args)),
    );
    const args = seen.find((a) => a.type === "aws:s3/bucket:Bucket")!;
    expect(args.name).toBe("documents-bucket");
    expect(args.urn).toBe(
      "urn:pulumi:prod-primary::freight-platform::aws:s3/bucket:Bucket::documents-bucket",
    );
    expect(args.props["bucket"]).toBe("docs");
    expect(args.opts).toMatchObject({ protect: true, ignoreChanges: ["tags"], aliases: [] });
    expect(args.provider?.type).toBe("pulumi:providers:aws");
    expect(args.provider?.props["region"]).toBe("us-east-1");
    expect(args.stackTags.get("region-role")).toBe("primary");
    expect(args.stackTags.get("pulumi:project")).toBe("freight-platform");
  });

  it("falls back to the default provider built from the stack's <package>:* config", async () => {
    const seen: ResourceValidationArgs[] = [];
    await checkStack(
      {
        stack: "dev",
        project: "freight-platform",
        config: { "aws:region": "us-west-2", "freight:role": "secondary" },
        resources: [{ ...bucket, urn: "urn:pulumi:dev::freight-platform::aws:s3/bucket:Bucket::b" }],
      },
      { rules: [probe("seen", (args) => void seen.push(args))] },
    );
    expect(seen[0]?.provider).toMatchObject({ type: "pulumi:providers:aws", name: "default" });
    expect(seen[0]?.provider?.props["region"]).toBe("us-west-2");
  });

  it("implements isType/asType by the class's Pulumi type token", async () => {
    class Bucket {
      static readonly __pulumiType = "aws:s3/bucket:Bucket";
    }
    class Key {
      static readonly __pulumiType = "aws:kms/key:Key";
    }
    const verdicts: unknown[] = [];
    await check(
      plan([bucket]),
      probe("types", (args) => {
        if (args.name !== "documents-bucket") return;
        verdicts.push(
          args.isType(Bucket as never),
          args.isType(Key as never),
          (args.asType(Bucket as never) as { bucket?: string })?.bucket,
        );
        verdicts.push(args.asType(Key as never));
      }),
    );
    expect(verdicts).toEqual([true, false, "docs", undefined]);
  });

  it("unwraps secrets and drops undefined properties", async () => {
    const secretSig = {
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      value: "s3cr3t",
    };
    const seen: Record<string, unknown>[] = [];
    await check(
      plan([
        res("aws:secretsmanager/secretVersion:SecretVersion", "v", {
          secretString: secretSig,
          gone: undefined,
        }),
      ]),
      probe("secrets", (args) => {
        if (args.name === "v")
          seen.push({ secretString: args.props["secretString"], hasGone: "gone" in args.props });
      }),
    );
    expect(seen).toEqual([{ secretString: "s3cr3t", hasGone: false }]);
  });

  it("makes notApplicable throw, so nothing after it runs and nothing is reported", async () => {
    let after = false;
    const report = await check(
      plan([bucket]),
      probe("na", (args, reportViolation) => {
        args.notApplicable("not for buckets");
        after = true;
        reportViolation("must not be reported");
      }),
    );
    expect(after).toBe(false);
    expect(report.violations).toEqual([]);
  });

  it("reports a rule that reads an unknown value unguarded as undecided, never as a violation", async () => {
    const report = await check(
      plan([res("aws:s3/bucket:Bucket", "pending", { bucket: UNKNOWN_STRING })]),
      probe("unguarded", (args, reportViolation) => {
        if (args.props["bucket"] !== "expected") reportViolation("would be a false positive");
      }),
    );
    expect(report.violations.filter((v) => v.resource.startsWith("pending"))).toEqual([]);
    expect(report.undecided).toEqual([
      expect.objectContaining({
        policy: "unguarded",
        urn: expect.stringContaining("::pending"),
        reason: "string value at .bucket can't be known during preview",
      }),
    ]);
  });

  it("awaits async validations before reporting", async () => {
    const report = await check(
      plan([bucket]),
      probe("slow", async (args, reportViolation) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (args.name === "documents-bucket") reportViolation("late but counted");
      }),
    );
    expect(report.violations.map((v) => v.message)).toEqual(["late but counted"]);
  });

  it("gives stack validations every resource with parents and dependencies linked and the provider resolved", async () => {
    const component = res("freight:documents:Documents", "documents", {});
    const componentUrn = "urn:pulumi:prod-primary::freight-platform::freight:documents:Documents::documents";
    const keyUrn = "urn:pulumi:prod-primary::freight-platform::aws:kms/key:Key::documents-key";
    const key = { ...res("aws:kms/key:Key", "documents-key", {}), urn: keyUrn };
    const child = { ...bucket, parent: componentUrn, opts: { dependsOn: [keyUrn] } };
    const seen: PolicyResource[] = [];
    const stackRule = {
      name: "stack-probe",
      description: "stack probe",
      validateStack: async (args: StackValidationArgs) => {
        await Promise.resolve();
        seen.push(...args.resources);
      },
    };
    await check(plan([{ ...component, urn: componentUrn }, key, child]), stackRule as Rule);
    const seenBucket = seen.find((r) => r.name === "documents-bucket")!;
    expect(seenBucket.parent?.name).toBe("documents");
    expect(seenBucket.dependencies.map((d) => d.name)).toEqual(["documents-key"]);
    expect(seenBucket.provider?.props["region"]).toBe("us-east-1");
    expect(seen.map((r) => r.type)).toContain("pulumi:providers:aws");
  });

  it("fails loudly, naming policy and resource, when a rule itself crashes", async () => {
    await expect(
      check(
        plan([bucket]),
        probe("crash", (args) => {
          if (args.name === "documents-bucket") throw new TypeError("boom");
        }),
      ),
    ).rejects.toThrow(/Policy "crash" failed on resource .*documents-bucket: boom/);
  });
});

describe("enforcement levels and policy config, as `--policy-pack-config` sets them", () => {
  const always = probe(
    "always",
    (args, reportViolation) => {
      if (args.name === "documents-bucket")
        reportViolation(`configured: ${JSON.stringify(args.getConfig())}`);
    },
    { configSchema: { properties: { limit: { type: "integer" } } } },
  );

  it("uses the rule's level, then the pack's, unless config overrides it", async () => {
    const mandatory = await check(plan([bucket]), always);
    expect(mandatory.violations.map((v) => v.enforcementLevel)).toEqual(["mandatory"]);
    const advisory = await check(plan([bucket]), always, { config: { always: "advisory" } });
    expect(advisory.violations.map((v) => v.enforcementLevel)).toEqual(["advisory"]);
    const all = await check(plan([bucket]), always, { config: { all: "advisory" } });
    expect(all.violations.map((v) => v.enforcementLevel)).toEqual(["advisory"]);
    const disabled = await check(plan([bucket]), always, {
      config: { always: { enforcementLevel: "disabled" } },
    });
    expect(disabled.violations).toEqual([]);
    const remediate = await check(plan([bucket]), always, { config: { always: "remediate" } });
    expect(remediate.violations.map((v) => v.enforcementLevel)).toEqual(["mandatory"]);
  });

  it("hands a rule its own settings without the enforcement level", async () => {
    const report = await check(plan([bucket]), always, {
      config: { always: { enforcementLevel: "advisory", limit: 3 } },
    });
    expect(report.violations[0]?.message).toBe('configured: {"limit":3}');
  });

  it("lists every mistake in a config file with what would be right", () => {
    const problems = validatePackConfig(rules, {
      "rds-backup-retention": { minimumRetentionDays: 3.5, retention: 7 },
      "tags-required": { requiredTags: "owner" },
      "secrets-rotation-window": { thirdPartyApiKeyMaxDays: 0 },
      "s3-bucket-versioning": "sometimes" as never,
      "no-such-policy": "advisory",
    });
    expect(problems).toEqual([
      '"rds-backup-retention.minimumRetentionDays" must be of type integer, got number (for example 7).',
      '"rds-backup-retention.retention" is not a setting of this policy; its settings are minimumRetentionDays.',
      '"tags-required.requiredTags" must be of type array, got string (for example ["owner","data-classification","region-role"]).',
      '"secrets-rotation-window.thirdPartyApiKeyMaxDays" must be at least 1.',
      '"s3-bucket-versioning" must be one of advisory, mandatory, remediate, disabled or an object.',
      expect.stringMatching(
        /^"no-such-policy" is not a policy of this pack; known policies: s3-bucket-versioning, /,
      ),
    ]);
  });

  it("accepts the example config the README points to", async () => {
    const { default: example } = await import("./config.example.json", { with: { type: "json" } });
    expect(validatePackConfig(rules, example as PolicyPackConfig)).toEqual([]);
  });

  it("derives stack tags from the stack's freight:role", () => {
    const tags = defaultStackTags({
      stack: "s",
      project: "p",
      config: { "freight:role": "secondary" },
      resources: [],
    });
    expect(Object.fromEntries(tags)).toEqual({
      "pulumi:project": "p",
      "pulumi:runtime": "nodejs",
      "region-role": "secondary",
    });
  });
});
