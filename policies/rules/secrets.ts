// Secrets Manager rotation windows. A leaked third-party API key (LLM provider, workflow
// automation) must age out within 30 days, the service role's credentials within 90. A secret's
// class comes from its `secret-class` tag, else from its name; an unclassified secret gets the
// strictest window, so forgetting the tag never loosens the rule.
import type { PolicyResource } from "@pulumi/policy";
import type { Rule, Unknown } from "./common.ts";
import { UNKNOWN, at, effectiveTags, findTarget, isUnknown, report, withDefaults } from "./common.ts";

export const SECRET_TYPE = "aws:secretsmanager/secret:Secret";
export const ROTATION_TYPE = "aws:secretsmanager/secretRotation:SecretRotation";
export const SECRET_CLASS_TAG = "secret-class";

type SecretClass = "third-party-api-key" | "service-role";

interface RotationConfig {
  thirdPartyApiKeyMaxDays: number;
  serviceRoleMaxDays: number;
  thirdPartyNamePattern: string;
  serviceRoleNamePattern: string;
}

const rotationSchema = {
  properties: {
    thirdPartyApiKeyMaxDays: {
      type: "integer" as const,
      minimum: 1,
      maximum: 1000,
      default: 30,
      description:
        "Longest rotation interval, in days, for third-party API keys (secret-class=third-party-api-key).",
    },
    serviceRoleMaxDays: {
      type: "integer" as const,
      minimum: 1,
      maximum: 1000,
      default: 90,
      description:
        "Longest rotation interval, in days, for the service role's credentials (secret-class=service-role).",
    },
    thirdPartyNamePattern: {
      type: "string" as const,
      format: "regex",
      default: "llm|openai|anthropic|workflow|n8n|zapier|api-?key",
      description:
        "Case-insensitive regular expression on an untagged secret's logical name or name marking a third-party API key.",
    },
    serviceRoleNamePattern: {
      type: "string" as const,
      format: "regex",
      default: "service-?role",
      description:
        "Case-insensitive regular expression on an untagged secret's logical name or name marking the service role.",
    },
  },
};

/**
 * Longest gap between two rotations a schedule allows, in days (upper bound). Supports what
 * Secrets Manager accepts: `rate(N days|hours)` and `cron(min hour dom month dow year)`.
 */
export function longestIntervalDays(scheduleExpression: string): number | undefined {
  const rate = /^rate\(\s*(\d+)\s+(day|days|hour|hours)\s*\)$/i.exec(scheduleExpression.trim());
  if (rate) {
    const n = Number(rate[1]);
    return rate[2]!.toLowerCase().startsWith("hour") ? Math.ceil(n / 24) : n;
  }
  const cron = /^cron\((.*)\)$/i.exec(scheduleExpression.trim());
  if (!cron) return undefined;
  const fields = cron[1]!.trim().split(/\s+/);
  if (fields.length !== 6) return undefined;
  const [, , dom, month, dow] = fields as [string, string, string, string, string, string];
  const monthGap = month === "*" ? 1 : largestCyclicGap(parseList(month, 1, 12), 12);
  if (monthGap === undefined) return undefined;
  if (monthGap > 1) return monthGap * 31;
  if ((dom === "*" || dom === "?") && (dow === "*" || dow === "?")) return 1;
  if (dom === "?" || dom === "*") {
    const weekGap = largestCyclicGap(parseList(dow.replace(/#\d+$/, ""), 1, 7), 7);
    return dow.includes("#") || dow.endsWith("L") ? 35 : weekGap;
  }
  if (dom === "L") return 31;
  const dayGap = largestCyclicGap(parseList(dom, 1, 31), 31);
  return dayGap;
}

const NAMES: Record<string, number> = {
  SUN: 1,
  MON: 2,
  TUE: 3,
  WED: 4,
  THU: 5,
  FRI: 6,
  SAT: 7,
  JAN: 1,
  FEB: 2,
  MAR: 3,
  APR: 4,
  MAY: 5,
  JUN: 6,
  JUL: 7,
  AUG: 8,
  SEP: 9,
  OCT: 10,
  NOV: 11,
  DEC: 12,
};

/** Expands `1,15`, `1-5`, `*\/10`, `MON-FRI` into the listed values; undefined for forms we do not read. */
function parseList(field: string, min: number, max: number): number[] | undefined {
  const values = new Set<number>();
  const numeric = field.toUpperCase().replace(/[A-Z]{3}/g, (name) => String(NAMES[name] ?? name));
  for (const part of numeric.split(",")) {
    const step = /^(\*|\d+)\/(\d+)$/.exec(part);
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (step) {
      const start = step[1] === "*" ? min : Number(step[1]);
      for (let v = start; v <= max; v += Number(step[2])) values.add(v);
    } else if (range) {
      for (let v = Number(range[1]); v <= Number(range[2]); v++) values.add(v);
    } else if (/^\d+$/.test(part)) {
      values.add(Number(part));
    } else {
      return undefined;
    }
  }
  return values.size > 0 ? [...values].sort((a, b) => a - b) : undefined;
}

function largestCyclicGap(values: number[] | undefined, cycle: number): number | undefined {
  if (!values || values.length === 0) return undefined;
  let gap = cycle - values[values.length - 1]! + values[0]!;
  for (let i = 1; i < values.length; i++) gap = Math.max(gap, values[i]! - values[i - 1]!);
  return gap;
}

/** Days between rotations a SecretRotation configures; undefined if it does not rotate or the schedule is unreadable. */
function rotationDays(rotation: PolicyResource): number | Unknown | undefined {
  const enabled = at(rotation.props, "rotationEnabled");
  const days = at(rotation.props, "rotationRules", "automaticallyAfterDays");
  const schedule = at(rotation.props, "rotationRules", "scheduleExpression");
  if (isUnknown(enabled) || isUnknown(days) || isUnknown(schedule)) return UNKNOWN;
  if (enabled === false) return undefined;
  if (typeof days === "number") return days;
  if (typeof schedule === "string") return longestIntervalDays(schedule);
  return undefined;
}

function classify(secret: PolicyResource, config: RotationConfig): SecretClass | Unknown | undefined {
  const tags = effectiveTags(secret.props, secret.provider);
  if (isUnknown(tags)) return UNKNOWN;
  const tagged = tags[SECRET_CLASS_TAG];
  if (tagged === "third-party-api-key" || tagged === "service-role") return tagged;
  const name = at(secret.props, "name");
  const names = [secret.name, typeof name === "string" ? name : ""];
  if (names.some((n) => new RegExp(config.serviceRoleNamePattern, "i").test(n))) return "service-role";
  if (names.some((n) => new RegExp(config.thirdPartyNamePattern, "i").test(n))) return "third-party-api-key";
  return undefined;
}

export const secretsRotation: Rule = {
  name: "secrets-rotation-window",
  description: "Secrets rotate at least every 30 days (third-party API keys) or 90 days (the service role).",
  enforcementLevel: "mandatory",
  severity: "high",
  configSchema: rotationSchema,
  remediationSteps:
    "Add an aws.secretsmanager.SecretRotation for the secret with rotationRules.automaticallyAfterDays within the window of its secret-class tag.",
  validateStack: (args, reportViolation) => {
    const config = withDefaults<RotationConfig>(rotationSchema, args.getConfig());
    const secrets = args.resources.filter((r) => r.type === SECRET_TYPE);
    const rotations = new Map<string, PolicyResource[]>();
    for (const rotation of args.resources.filter((r) => r.type === ROTATION_TYPE)) {
      const secret = findTarget(rotation, "secretId", secrets, ["name"]);
      if (secret) rotations.set(secret.urn, [...(rotations.get(secret.urn) ?? []), rotation]);
    }
    for (const secret of secrets) {
      const secretClass = classify(secret, config);
      if (isUnknown(secretClass)) continue;
      const maxDays =
        secretClass === "service-role"
          ? config.serviceRoleMaxDays
          : secretClass === "third-party-api-key"
            ? config.thirdPartyApiKeyMaxDays
            : Math.min(config.serviceRoleMaxDays, config.thirdPartyApiKeyMaxDays);
      const label = secretClass ?? `unclassified secret (no ${SECRET_CLASS_TAG} tag)`;
      const intervals = (rotations.get(secret.urn) ?? []).map(rotationDays);
      if (intervals.includes(UNKNOWN)) continue;
      const known = intervals.filter((d): d is number => typeof d === "number");
      const shortest = known.length > 0 ? Math.min(...known) : undefined;
      if (shortest !== undefined && shortest <= maxDays) continue;
      const fix = `set rotationRules.automaticallyAfterDays to ${maxDays} or fewer on its aws.secretsmanager.SecretRotation${
        secretClass
          ? ""
          : `, or tag the secret ${SECRET_CLASS_TAG}=service-role if it holds the service role (window ${config.serviceRoleMaxDays} days)`
      }.`;
      report(
        reportViolation,
        secret,
        shortest === undefined
          ? `is a ${label} with no rotation schedule; it must rotate at least every ${maxDays} days.`
          : `is a ${label} rotating every ${shortest} days; the limit is ${maxDays} days.`,
        shortest === undefined
          ? `add an aws.secretsmanager.SecretRotation with secretId = this secret's ARN and rotationRules.automaticallyAfterDays: ${maxDays}.`
          : fix,
      );
    }
  },
};

export const secretsRules: Rule[] = [secretsRotation];
