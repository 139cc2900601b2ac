// Builders for rule tests: small offline plans shaped like stacks/plan.ts output, checked through
// the same runtime-equivalent arguments (proxy, providers, stack tags) the offline runner uses.
import { packArgs, rules as allRules } from "./pack.ts";
import type { CheckOptions, PlanResource, PlanStack, StackReport } from "./offline.ts";
import { checkStack } from "./offline.ts";
import type { Rule } from "./rules/common.ts";
import type { RegionRole } from "../app/region.ts";

/** The sentinels the engine sends for values unknown during preview (`pulumi preview`). */
export const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
export const UNKNOWN_NUMBER = "3eeb2bf0-c639-47a8-9e75-3b44932eb421";
export const UNKNOWN_BOOLEAN = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7";
export const UNKNOWN_ARRAY = "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2";
export const UNKNOWN_OBJECT = "dd056dcd-154b-4c76-9bd3-c8f88648b5ff";

export const PROJECT = "freight-platform";

export const TAGS = {
  owner: "platform-team",
  "data-classification": "confidential",
  "region-role": "primary",
};

export interface StackOptions {
  stack?: string;
  role?: RegionRole;
  region?: string;
  /** Extra default tags on the stack's aws provider (the way stacks/program.ts tags everything). */
  defaultTags?: Record<string, string> | null;
}

/** A resource of the plan; `aws` resources use the stack's explicit provider like the real program. */
export function res(
  type: string,
  name: string,
  props: Record<string, unknown>,
  extra: Partial<PlanResource> = {},
): PlanResource {
  return { urn: "", type, name, props, ...extra };
}

export function plan(resources: PlanResource[], options: StackOptions = {}): PlanStack {
  const stack = options.stack ?? (options.role === "secondary" ? "prod-secondary" : "prod-primary");
  const role = options.role ?? "primary";
  const region = options.region ?? (role === "primary" ? "us-east-1" : "us-west-2");
  const urnOf = (type: string, name: string) => `urn:pulumi:${stack}::${PROJECT}::${type}::${name}`;
  const providerUrn = urnOf("pulumi:providers:aws", "aws");
  const providerProps: Record<string, unknown> = { region };
  if (options.defaultTags !== null) {
    providerProps["defaultTags"] = { tags: { ...TAGS, "region-role": role, ...options.defaultTags } };
  }
  const provider: PlanResource = {
    urn: providerUrn,
    type: "pulumi:providers:aws",
    name: "aws",
    props: providerProps,
  };
  return {
    stack,
    project: PROJECT,
    config: { "freight:role": role, "freight:region": region },
    resources: [
      provider,
      ...resources.map((r) => ({
        ...r,
        urn: r.urn || urnOf(r.type, r.name),
        ...(r.type.startsWith("aws:") && r.provider === undefined
          ? { provider: `${providerUrn}::provider-id` }
          : {}),
      })),
    ],
  };
}

/** Checks a plan with the given rules (all by default) and the pack's default enforcement level. */
export function check(
  planned: PlanStack,
  rules: Rule | readonly Rule[] = allRules,
  options: Partial<CheckOptions> = {},
): Promise<StackReport> {
  return checkStack(planned, {
    rules: Array.isArray(rules) ? rules : [rules as Rule],
    packEnforcementLevel: packArgs.enforcementLevel ?? "mandatory",
    ...options,
  });
}

/** `policy: resource name` per violation, the compact form tests assert on. */
export function summary(report: StackReport): string[] {
  return report.violations.map((v) => `${v.policy}: ${v.urn ? v.urn.split("::").pop() : "stack"}`);
}
