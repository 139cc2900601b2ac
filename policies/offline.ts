// Runs the policy pack without the Pulumi CLI: converts an offline plan (stacks/plan.ts) into
// exactly what the policy runtime hands to rules (props behind the unknown-checking proxy,
// resolved providers, stack tags, getConfig, notApplicable that throws) and applies the same
// enforcement-level, not-applicable and unknown-value semantics as @pulumi/policy's analyzer.
import { UnknownValueError, unknownCheckingProxy } from "@pulumi/policy";
import type {
  EnforcementLevel,
  PolicyPackConfig,
  PolicyProviderResource,
  PolicyResource,
  PolicyResourceOptions,
  ReportViolation,
  ResourceValidationArgs,
  StackValidationArgs,
} from "@pulumi/policy";
import { jsonType, schemaProblems } from "./config-schema.ts";
import type { Rule } from "./rules/common.ts";
import { FIX_MARKER } from "./rules/common.ts";

/** One resource of an offline plan (the shape stacks/plan.ts produces). */
export interface PlanResource {
  urn: string;
  type: string;
  name: string;
  props: Record<string, unknown>;
  parent?: string;
  provider?: string;
  opts?: object;
  /** URNs each input property depends on, as the engine reports them (e.g. an ARN unknown during preview). */
  propertyDependencies?: Record<string, string[]>;
}

export interface PlanStack {
  stack: string;
  project: string;
  config: Record<string, string>;
  resources: PlanResource[];
}

export interface Violation {
  policy: string;
  enforcementLevel: "mandatory" | "advisory";
  severity?: string;
  stack: string;
  /** The offending resource's URN; undefined when the stack as a whole is in violation. */
  urn?: string;
  /** `name (type)` of the resource, or `stack <name>`. */
  resource: string;
  /** What is wrong, as the rule reported it. */
  message: string;
  /** How to fix it: the rule's specific fix, else the policy's remediation steps. */
  remediation: string;
}

/** A rule that could not decide because a value is unknown until deployment (what `pulumi preview` reports as advisory). */
export interface Undecided {
  policy: string;
  stack: string;
  urn?: string;
  reason: string;
}

export interface StackReport {
  stack: string;
  resources: number;
  violations: Violation[];
  undecided: Undecided[];
}

export interface CheckOptions {
  rules: readonly Rule[];
  /** Same format as `pulumi preview --policy-pack-config <file>`. */
  config?: PolicyPackConfig;
  /** Pack-wide default level (the PolicyPack's enforcementLevel). */
  packEnforcementLevel?: EnforcementLevel;
  /** Stack tags as Pulumi Cloud would send them; defaults to the ones derived from stack config. */
  stackTags?: ReadonlyMap<string, string>;
}

// ---- runtime-equivalent argument building ------------------------------------------------------

class NotApplicable extends Error {
  readonly reason: string | undefined;
  constructor(reason?: string) {
    super(reason ?? "Policy does not apply");
    this.reason = reason;
  }
}

function notApplicable(reason?: string): never {
  throw new NotApplicable(reason);
}

const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

/**
 * Mirrors the analyzer's deserialisation: secrets are unwrapped to plain values (rules see data,
 * never Secret wrappers) and undefined properties do not exist.
 */
function plainValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainValue);
  if (value === null || typeof value !== "object") return value;
  const record = value as Record<string, unknown>;
  if (record[SIG_KEY] === SECRET_SIG) return plainValue(record["value"]);
  const result: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(record)) {
    if (v !== undefined) result[key] = plainValue(v);
  }
  return result;
}

function runtimeProps(props: Record<string, unknown>): Record<string, unknown> {
  return unknownCheckingProxy(plainValue(props) as Record<string, unknown>);
}

function runtimeOptions(resource: PlanResource): PolicyResourceOptions {
  const opts = (resource.opts ?? {}) as Record<string, unknown>;
  const list = (key: string) => (Array.isArray(opts[key]) ? (opts[key] as unknown[]).map(String) : []);
  const timeouts = (opts["customTimeouts"] ?? {}) as Record<string, unknown>;
  const seconds = (key: string) => (typeof timeouts[key] === "number" ? timeouts[key] : 0);
  const result: PolicyResourceOptions = {
    protect: opts["protect"] === true,
    ignoreChanges: list("ignoreChanges"),
    aliases: list("aliases"),
    customTimeouts: {
      createSeconds: seconds("create"),
      updateSeconds: seconds("update"),
      deleteSeconds: seconds("delete"),
    },
    additionalSecretOutputs: list("additionalSecretOutputs"),
  };
  if (typeof opts["deleteBeforeReplace"] === "boolean")
    result.deleteBeforeReplace = opts["deleteBeforeReplace"];
  if (resource.parent) result.parent = resource.parent;
  return result;
}

/** `urn::id` (how the engine references a provider) -> the provider's URN. */
function providerUrn(reference: string): string {
  const at = reference.lastIndexOf("::");
  return at > reference.indexOf("::") + 1 && reference.slice(0, at).startsWith("urn:")
    ? reference.slice(0, at)
    : reference;
}

function packageOf(type: string): string {
  return type.split(":")[0] ?? "";
}

/**
 * Resolves the provider the engine would report for a resource: its explicit provider from the
 * plan, else the package's default provider, whose inputs are the stack's `<package>:*` config.
 */
function providerResolver(plan: PlanStack): (resource: PlanResource) => PolicyProviderResource | undefined {
  const byUrn = new Map(plan.resources.map((r) => [r.urn, r]));
  const defaults = new Map<string, PolicyProviderResource>();
  return (resource) => {
    if (resource.type.startsWith("pulumi:")) return undefined;
    if (resource.provider) {
      const explicit = byUrn.get(providerUrn(resource.provider));
      if (explicit) {
        return {
          type: explicit.type,
          name: explicit.name,
          urn: explicit.urn,
          props: runtimeProps(explicit.props),
        };
      }
    }
    const pkg = packageOf(resource.type);
    let provider = defaults.get(pkg);
    if (!provider) {
      const props: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(plan.config)) {
        if (key.startsWith(`${pkg}:`)) props[key.slice(pkg.length + 1)] = value;
      }
      provider = {
        type: `pulumi:providers:${pkg}`,
        name: "default",
        urn: `urn:pulumi:${plan.stack}::${plan.project}::pulumi:providers:${pkg}::default`,
        props: runtimeProps(props),
      };
      defaults.set(pkg, provider);
    }
    return provider;
  };
}

/**
 * Stack tags the CLI would send: the built-in `pulumi:*` ones plus `region-role` from the stack's
 * `freight:role` (set it on real stacks with `pulumi stack tag set region-role <role>`).
 */
export function defaultStackTags(plan: PlanStack): ReadonlyMap<string, string> {
  const tags = new Map<string, string>([
    ["pulumi:project", plan.project],
    ["pulumi:runtime", "nodejs"],
  ]);
  const role = plan.config["freight:role"];
  if (role) tags.set("region-role", role);
  return tags;
}

function pulumiTypeOf(resourceClass: unknown): string | undefined {
  const type = (resourceClass as { __pulumiType?: unknown } | undefined)?.__pulumiType;
  return typeof type === "string" && type.length > 0 ? type : undefined;
}

function isTypeOf(type: string, resourceClass: unknown): boolean {
  const pulumiType = pulumiTypeOf(resourceClass);
  if (pulumiType) return type === pulumiType;
  const isInstance = (resourceClass as { isInstance?: unknown }).isInstance;
  return typeof isInstance === "function" && isInstance({ __pulumiType: type }) === true;
}

/** The argument bag the analyzer passes to `validateResource`. */
export function resourceArgs(
  resource: PlanResource,
  provider: PolicyProviderResource | undefined,
  stackTags: ReadonlyMap<string, string>,
  getConfig: () => object,
): ResourceValidationArgs {
  const props = runtimeProps(resource.props);
  const args: ResourceValidationArgs = {
    type: resource.type,
    props,
    urn: resource.urn,
    name: resource.name,
    opts: runtimeOptions(resource),
    stackTags,
    isType: (resourceClass) => isTypeOf(resource.type, resourceClass),
    asType: ((resourceClass: unknown) =>
      isTypeOf(resource.type, resourceClass) ? props : undefined) as ResourceValidationArgs["asType"],
    getConfig: getConfig as ResourceValidationArgs["getConfig"],
    notApplicable,
  };
  if (provider) args.provider = provider;
  return args;
}

/** The resources the analyzer passes to `validateStack`, with parents linked to objects. */
export function stackResources(plan: PlanStack): PolicyResource[] {
  const resolveProvider = providerResolver(plan);
  const resources = plan.resources.map((r) => {
    const props = runtimeProps(r.props);
    const resource: PolicyResource = {
      type: r.type,
      props,
      urn: r.urn,
      name: r.name,
      opts: runtimeOptions(r),
      dependencies: [],
      propertyDependencies: {},
      isType: (resourceClass) => isTypeOf(r.type, resourceClass),
      asType: ((resourceClass: unknown) =>
        isTypeOf(r.type, resourceClass) ? props : undefined) as PolicyResource["asType"],
    };
    const provider = resolveProvider(r);
    if (provider) resource.provider = provider;
    return resource;
  });
  // Like the analyzer, link parents and explicit dependencies to the resource objects themselves.
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  plan.resources.forEach((r, i) => {
    const resource = resources[i]!;
    const parent = r.parent ? byUrn.get(r.parent) : undefined;
    if (parent) resource.parent = parent;
    const dependsOn = (r.opts as { dependsOn?: unknown } | undefined)?.dependsOn;
    if (Array.isArray(dependsOn)) {
      resource.dependencies = dependsOn.flatMap((urn) => byUrn.get(String(urn)) ?? []);
    }
    for (const [property, urns] of Object.entries(r.propertyDependencies ?? {})) {
      resource.propertyDependencies[property] = urns.flatMap((urn) => byUrn.get(urn) ?? []);
    }
  });
  return resources;
}

// ---- policy config --------------------------------------------------------------------------

const LEVELS: readonly string[] = ["advisory", "mandatory", "remediate", "disabled"];

/**
 * Checks a `--policy-pack-config` document against the rules' schemas, listing every problem with
 * its fix (the CLI rejects such a file too, before any rule runs).
 */
export function validatePackConfig(rules: readonly Rule[], config: PolicyPackConfig): string[] {
  if (jsonType(config) !== "object")
    return [
      `The policy config must be a JSON object of policy names to a level or to settings, got ${jsonType(config)}.`,
    ];
  const problems: string[] = [];
  const byName = new Map(rules.map((r) => [r.name, r]));
  for (const [policyName, value] of Object.entries(config) as [string, unknown][]) {
    if (policyName === "all") {
      if (typeof value !== "string" || !LEVELS.includes(value)) {
        problems.push(`"all" must be one of ${LEVELS.join(", ")}.`);
      }
      continue;
    }
    const rule = byName.get(policyName);
    if (!rule) {
      problems.push(
        `"${policyName}" is not a policy of this pack; known policies: ${[...byName.keys()].join(", ")}.`,
      );
      continue;
    }
    const properties = rule.configSchema?.properties ?? {};
    const known = Object.keys(properties);
    if (typeof value === "string") {
      if (!LEVELS.includes(value))
        problems.push(`"${policyName}" must be one of ${LEVELS.join(", ")} or an object.`);
      continue;
    }
    if (jsonType(value) !== "object") {
      problems.push(
        `"${policyName}" must be one of ${LEVELS.join(", ")} or an object of ${known.length > 0 ? `its settings (${known.join(", ")})` : "enforcementLevel"}, got ${jsonType(value)}.`,
      );
      continue;
    }
    for (const [key, setting] of Object.entries(value as Record<string, unknown>)) {
      if (key === "enforcementLevel") {
        if (typeof setting !== "string" || !LEVELS.includes(setting)) {
          problems.push(`"${policyName}.enforcementLevel" must be one of ${LEVELS.join(", ")}.`);
        }
        continue;
      }
      const schema = properties[key];
      if (schema === undefined) {
        problems.push(
          `"${policyName}.${key}" is not a setting of this policy; ${known.length > 0 ? `its settings are ${known.join(", ")}` : "it has no settings"}.`,
        );
        continue;
      }
      // The whole schema, to the last list item and map entry: a wrong shape deeper down would
      // otherwise reach the rule as bogus violations or a crash.
      problems.push(...schemaProblems(`${policyName}.${key}`, setting, schema));
    }
    for (const key of rule.configSchema?.required ?? [])
      if (!(key in (value as object))) problems.push(`"${policyName}.${key}" is required.`);
  }
  return problems;
}

function enforcementLevelOf(
  rule: Rule,
  config: PolicyPackConfig,
  packLevel: EnforcementLevel,
): EnforcementLevel {
  const own = config[rule.name];
  const configured = typeof own === "string" ? own : own?.enforcementLevel;
  const all = config["all"];
  return configured ?? (typeof all === "string" ? all : undefined) ?? rule.enforcementLevel ?? packLevel;
}

function configGetter(rule: Rule, config: PolicyPackConfig): () => object {
  return () => {
    const own = config[rule.name];
    if (own === undefined || typeof own === "string") return {};
    const { enforcementLevel: _level, ...properties } = own;
    return properties;
  };
}

// ---- running ----------------------------------------------------------------------------------

function splitMessage(
  message: string,
  fallback: string | undefined,
): { message: string; remediation: string } {
  const at = message.indexOf(FIX_MARKER);
  if (at === -1) return { message, remediation: fallback ?? "" };
  return { message: message.slice(0, at), remediation: message.slice(at + FIX_MARKER.length) };
}

function describe(resource: PlanResource | undefined, stack: string): string {
  return resource ? `${resource.name} (${resource.type})` : `stack ${stack}`;
}

/** Runs every enabled rule of the pack against one planned stack, awaiting async validations. */
export async function checkStack(plan: PlanStack, options: CheckOptions): Promise<StackReport> {
  const config = options.config ?? {};
  const problems = validatePackConfig(options.rules, config);
  if (problems.length > 0) {
    throw new Error(`Invalid policy pack config:\n- ${problems.join("\n- ")}`);
  }
  const stackTags = options.stackTags ?? defaultStackTags(plan);
  const packLevel = options.packEnforcementLevel ?? "advisory";
  const resolveProvider = providerResolver(plan);
  const byUrn = new Map(plan.resources.map((r) => [r.urn, r]));
  const violations: Violation[] = [];
  const undecided: Undecided[] = [];

  for (const rule of options.rules) {
    let level = enforcementLevelOf(rule, config, packLevel);
    if (level === "disabled") continue;
    // As in the analyzer: a violation that survives remediation is reported as mandatory.
    if (level === "remediate") level = "mandatory";
    const getConfig = configGetter(rule, config);
    const makeReporter =
      (defaultUrn: string | undefined): ReportViolation =>
      (message, urn) => {
        const target = urn ?? defaultUrn;
        const { message: text, remediation } = splitMessage(message, rule.remediationSteps);
        const violation: Violation = {
          policy: rule.name,
          enforcementLevel: level === "advisory" ? "advisory" : "mandatory",
          stack: plan.stack,
          resource: describe(target ? byUrn.get(target) : undefined, plan.stack),
          message: text,
          remediation,
        };
        if (rule.severity) violation.severity = rule.severity;
        if (target) violation.urn = target;
        violations.push(violation);
      };
    const settle = async (run: () => Promise<void> | void, urn: string | undefined) => {
      try {
        await run();
      } catch (err) {
        if (err instanceof NotApplicable) return;
        if (err instanceof UnknownValueError) {
          const entry: Undecided = { policy: rule.name, stack: plan.stack, reason: (err as Error).message };
          if (urn) entry.urn = urn;
          undecided.push(entry);
          return;
        }
        const where = urn ? `resource ${urn}` : `stack ${plan.stack}`;
        throw new Error(
          `Policy "${rule.name}" failed on ${where}: ${err instanceof Error ? err.message : String(err)}`,
          {
            cause: err,
          },
        );
      }
    };

    if ("validateResource" in rule && rule.validateResource) {
      const validations = Array.isArray(rule.validateResource)
        ? rule.validateResource
        : [rule.validateResource];
      for (const resource of plan.resources) {
        const reportViolation = makeReporter(resource.urn);
        for (const validate of validations) {
          // Each validation gets fresh args, as in the analyzer.
          const args = resourceArgs(resource, resolveProvider(resource), stackTags, getConfig);
          // The engine ignores the urn argument of a resource violation; ours must too.
          await settle(() => validate(args, (message) => reportViolation(message)), resource.urn);
        }
      }
    }
    if ("validateStack" in rule && rule.validateStack) {
      const args: StackValidationArgs = {
        resources: stackResources(plan),
        stackTags,
        getConfig: getConfig as StackValidationArgs["getConfig"],
        notApplicable,
      };
      const validateStack = rule.validateStack;
      await settle(() => validateStack(args, makeReporter(undefined)), undefined);
    }
  }
  return { stack: plan.stack, resources: plan.resources.length, violations, undecided };
}
