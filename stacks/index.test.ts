// The Pulumi entry point itself, in this process: mocks first, then the program. A broken config
// or missing generated manifests must stop it before a single resource is registered.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";

import { StackConfigError } from "./config.ts";
import { readStackFile } from "./plan.ts";

const registered: string[] = [];
let main: () => Promise<unknown>;

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push(`${args.type}::${args.name}`);
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "freight-platform",
    "prod-primary",
    false,
  );
  main = ((await import("./index.ts")) as { default: () => Promise<unknown> }).default;
});

function useConfig(overrides: Record<string, string>): void {
  pulumi.runtime.setAllConfig({ ...readStackFile("prod-primary"), ...overrides });
}

describe("stacks/index.ts", () => {
  it("fails on a broken config with every problem listed and registers nothing", async () => {
    useConfig({ "freight:region": "us-east", "freight:dbBackupRetentionDays": "0", "freight:owner": "" });
    const error = await main().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StackConfigError);
    expect((error as StackConfigError).problems.map((p) => p.key)).toEqual([
      "freight:region",
      "freight:owner",
      "freight:dbBackupRetentionDays",
    ]);
    await new Promise((r) => setTimeout(r, 50));
    expect(registered).toEqual([]);
  });

  it("fails when the generated operator manifests are missing, naming the generator, and registers nothing", async () => {
    useConfig({ "freight:operatorManifestsDir": "stacks/testdata/does-not-exist" });
    await expect(main()).rejects.toThrow(/npm run operators:generate/);
    await new Promise((r) => setTimeout(r, 50));
    expect(registered).toEqual([]);
  });
});
