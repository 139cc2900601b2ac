// Shared vocabulary of the rules: reading props the way the policy runtime hands them over
// (through a proxy that throws on values unknown during preview), naming resources in messages,
// and the tags/role/region facts several rules need.
import { UnknownValueError } from "@pulumi/policy";
import type { RegionRole } from "../../app/region.ts";
import type {
  PolicyConfigSchema,
  PolicyResource,
  PolicyProviderResource,
  ReportViolation,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";

export type Rule = ResourceValidationPolicy | StackValidationPolicy;

/** Marks a value the engine cannot know yet (an output of a resource not created during preview). */
export const UNKNOWN: unique symbol = Symbol("unknown during preview");
export type Unknown = typeof UNKNOWN;

/**
 * Reads props through the runtime's unknown-checking proxy. An unknown value comes back as UNKNOWN
 * instead of aborting the whole policy, so a rule can decide per resource; rules never flag UNKNOWN.
 */
export function peek<T>(read: () => T): T | Unknown {
  try {
    return read();
  } catch (err) {
    if (err instanceof UnknownValueError) return UNKNOWN;
    throw err;
  }
}

export function isUnknown(value: unknown): value is Unknown {
  return value === UNKNOWN;
}

export type Props = Record<string, unknown>;

export function isRecord(value: unknown): value is Props {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A property that is absent, null or an empty string: "not configured" in every provider we check. */
export function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === "";
}

/** Arrays in provider inputs may be a single object where the schema allows maxItems 1. */
export function asList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** Reads a nested path; any unknown along the way makes the result UNKNOWN. */
export function at(obj: unknown, ...path: (string | number)[]): unknown {
  return peek(() => {
    let cur: unknown = obj;
    for (const key of path) {
      if (cur === undefined || cur === null || typeof cur !== "object") return undefined;
      cur = (cur as Record<string | number, unknown>)[key];
    }
    return cur;
  });
}

/** `name (type)`: what every message starts with, so an engineer can find the resource in code. */
export function subject(resource: { name: string; type: string }): string {
  return `${resource.name} (${resource.type})`;
}

/** Separates the problem from the fix so reports can show them apart (the CLI shows both lines). */
export const FIX_MARKER = "\nFix: ";

export function report(
  reportViolation: ReportViolation,
  resource: { name: string; type: string; urn?: string },
  problem: string,
  fix: string,
): void {
  reportViolation(`${subject(resource)}: ${problem}${FIX_MARKER}${fix}`, resource.urn);
}

/** A violation of the stack as a whole (no single resource to blame). */
export function reportStack(
  reportViolation: ReportViolation,
  stack: string,
  problem: string,
  fix: string,
): void {
  reportViolation(`stack ${stack}: ${problem}${FIX_MARKER}${fix}`);
}

/** Fills the config a team did not set with the schema defaults, so rules read one complete object. */
export function withDefaults<T extends object>(schema: PolicyConfigSchema, configured: object): T {
  const result: Record<string, unknown> = {};
  for (const [key, definition] of Object.entries(schema.properties)) {
    if (typeof definition === "object" && definition.default !== undefined) {
      result[key] = structuredClone(definition.default);
    }
  }
  for (const [key, value] of Object.entries(configured)) {
    if (value !== undefined && key !== "enforcementLevel") result[key] = value;
  }
  return result as T;
}

// ---- stack identity -------------------------------------------------------------------------

/** urn:pulumi:<stack>::<project>::<type chain>::<name>; the stack name is the only stack fact every resource carries. */
export function stackOfUrn(urn: string): string | undefined {
  const match = /^urn:pulumi:([^:]+)::/.exec(urn);
  return match?.[1];
}

// ---- tags -----------------------------------------------------------------------------------

/** Resource tags as a map, accepting the map form and the `[{ key, value }]` form (autoscaling groups). */
export function tagsOf(props: unknown, key = "tags"): Record<string, string> | Unknown {
  const raw = at(props, key);
  if (isUnknown(raw)) return UNKNOWN;
  const tags: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const k = at(entry, "key");
      const v = at(entry, "value");
      if (isUnknown(k) || isUnknown(v)) return UNKNOWN;
      if (typeof k === "string") tags[k] = typeof v === "string" ? v : String(v);
    }
    return tags;
  }
  if (!isRecord(raw)) return tags;
  const entries = peek(() => Object.entries(raw));
  if (isUnknown(entries)) return UNKNOWN;
  for (const [k, v] of entries) tags[k] = typeof v === "string" ? v : String(v);
  return tags;
}

/** The provider's `defaultTags.tags`: applied by the AWS provider to every taggable resource it creates. */
export function providerDefaultTags(
  provider: PolicyProviderResource | undefined,
): Record<string, string> | Unknown {
  if (!provider) return {};
  let defaultTags = at(provider.props, "defaultTags");
  if (isUnknown(defaultTags)) return UNKNOWN;
  // The default provider receives `aws:defaultTags` from stack config as a JSON string.
  if (typeof defaultTags === "string") {
    try {
      defaultTags = JSON.parse(defaultTags) as unknown;
    } catch {
      return {};
    }
  }
  return tagsOf(asList(defaultTags)[0] ?? {}, "tags");
}

/** Tags a resource ends up with: provider default tags overlaid by its own tags. */
export function effectiveTags(
  props: unknown,
  provider: PolicyProviderResource | undefined,
): Record<string, string> | Unknown {
  const own = tagsOf(props);
  const defaults = providerDefaultTags(provider);
  if (isUnknown(own) || isUnknown(defaults)) return UNKNOWN;
  return { ...defaults, ...own };
}

export const REGION_ROLE_TAG = "region-role";

/**
 * The role of the region a resource is deployed for: its own `region-role` tag (or the provider's
 * default tag), else the stack tag of the same name (`pulumi stack tag set region-role primary`).
 */
export function regionRoleOf(
  resource: { props: unknown; provider?: PolicyProviderResource | undefined },
  stackTags: ReadonlyMap<string, string>,
): RegionRole | Unknown | undefined {
  const tags = effectiveTags(resource.props, resource.provider);
  if (isUnknown(tags)) return UNKNOWN;
  const role = tags[REGION_ROLE_TAG] ?? stackTags.get(REGION_ROLE_TAG);
  return role === "primary" || role === "secondary" ? role : undefined;
}

/** The role of a whole stack: the stack tag, else what its tagged resources agree on. */
export function stackRoleOf(
  resources: readonly PolicyResource[],
  stackTags: ReadonlyMap<string, string>,
): RegionRole | undefined {
  const tagged = stackTags.get(REGION_ROLE_TAG);
  if (tagged === "primary" || tagged === "secondary") return tagged;
  const seen = new Set<RegionRole>();
  for (const resource of resources) {
    const role = regionRoleOf(resource, stackTags);
    if (role === "primary" || role === "secondary") seen.add(role);
  }
  return seen.size === 1 ? [...seen][0] : undefined;
}

// ---- regions --------------------------------------------------------------------------------

/**
 * Where an AWS resource lives: its own `region` input (AWS provider v7 per-resource region), else its
 * provider's region. Returns undefined when neither says (the provider then falls back to AWS_REGION).
 */
export function regionOf(
  props: unknown,
  provider: PolicyProviderResource | undefined,
): string | Unknown | undefined {
  const own = at(props, "region");
  if (isUnknown(own)) return UNKNOWN;
  if (typeof own === "string" && own !== "") return own;
  if (!provider) return undefined;
  const fromProvider = at(provider.props, "region");
  if (isUnknown(fromProvider)) return UNKNOWN;
  return typeof fromProvider === "string" && fromProvider !== "" ? fromProvider : undefined;
}

/** The region part of an ARN (`arn:aws:rds:us-east-1:123456789012:db:x`), if it has one. */
export function regionOfArn(arn: string): string | undefined {
  const parts = arn.split(":");
  if (parts[0] !== "arn" || parts.length < 6) return undefined;
  return parts[3] || undefined;
}

// ---- linking companion resources -------------------------------------------------------------

/**
 * The values other resources use to point at `resource` (its id, ARN, name). Companion resources
 * such as BucketVersioning or SecretRotation name their target by one of these.
 */
export function identifiersOf(resource: PolicyResource, nameProps: readonly string[]): Set<string> {
  const ids = new Set<string>();
  for (const key of ["id", "arn", ...nameProps]) {
    const value = at(resource.props, key);
    if (typeof value === "string" && value !== "") ids.add(value);
  }
  return ids;
}

/**
 * Finds the resource a companion points at through `property`: by the engine's property
 * dependencies when present (the real runtime), else by matching id/ARN/name values.
 */
export function findTarget(
  companion: PolicyResource,
  property: string,
  candidates: readonly PolicyResource[],
  nameProps: readonly string[],
): PolicyResource | undefined {
  const deps = companion.propertyDependencies?.[property] ?? [];
  for (const dep of deps) {
    const hit = candidates.find((c) => c.urn === dep.urn);
    if (hit) return hit;
  }
  const ref = at(companion.props, property);
  if (typeof ref === "string" && ref !== "") {
    const hit = candidates.find((c) => identifiersOf(c, nameProps).has(ref));
    if (hit) return hit;
  }
  return undefined;
}
