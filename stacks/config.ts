// Stack configuration: read once, validated as a whole, before any resource is registered.
// Keys live under the `freight:` namespace in Pulumi.<stack>.yaml. Values arrive as strings
// (that is how Pulumi hands config to a program), so the schema coerces and checks them.
import { z } from "zod";
import { REGION_ROLES, type RegionRole } from "../app/region.ts";
import { parsePinnedImage, pinnedImageProblem } from "../infra/workloads/images.ts";

export const CONFIG_NAMESPACE = "freight";

// Re-exported for the components that take a role with the rest of the stack config.
export type { RegionRole };

const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

function isCidr(value: string): boolean {
  const m = CIDR.exec(value);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  return octets.every((o) => o >= 0 && o <= 255) && prefix >= 0 && prefix <= 32;
}

const bool = z.enum(["true", "false"]).transform((v) => v === "true");
const onOff = z.enum(["on", "off"], "must be on or off").transform((v) => v === "on");
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(
      z.number().int().min(min, `must be from ${min} to ${max}`).max(max, `must be from ${min} to ${max}`),
    );

// One key per image holding both tag and digest, so one `pulumi config set` moves them together and
// they cannot drift apart; the digest is pulled, the tag becomes the version label.
const pinnedImage = z
  .string()
  .superRefine((v, ctx) => {
    const problem = pinnedImageProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .transform(parsePinnedImage);

const cidrList = z
  .string()
  .transform((v, ctx) => {
    try {
      const parsed: unknown = JSON.parse(v);
      if (Array.isArray(parsed) && parsed.every((c) => typeof c === "string")) return parsed as string[];
    } catch {
      // fall through to the issue below
    }
    ctx.addIssue({ code: "custom", message: 'must be a JSON list of CIDRs, e.g. ["203.0.113.0/24"]' });
    return z.NEVER;
  })
  .pipe(
    z
      .array(z.string().refine(isCidr, "is not an IPv4 CIDR"))
      .refine(
        (list) => !list.some((c) => c.endsWith("/0")),
        "must not contain a /0 range: the Kubernetes API would be reachable from the whole internet",
      ),
  );

const PINNED_IMAGE_EXAMPLE =
  "'2026.11.26-3f9c2ab@sha256:<64 hex: the digest the registry reports for that tag>'";

/** Every key, its rule, and an example the error message offers as the fix. */
const keys = {
  role: { schema: z.enum(REGION_ROLES), example: "primary" },
  region: {
    schema: z.string().regex(REGION, "must be an AWS region such as us-east-1"),
    example: "us-east-1",
  },
  peerStack: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "must be <org>/<project>/<stack>"),
    example: "acme/freight-platform/prod-secondary",
  },
  peerRegion: {
    schema: z.string().regex(REGION, "must be an AWS region such as us-west-2"),
    example: "us-west-2",
  },
  owner: { schema: z.string().min(1, "must not be empty"), example: "platform-team" },
  dataClassification: {
    schema: z.enum(["public", "internal", "confidential", "restricted"]),
    example: "confidential",
  },
  domain: {
    schema: z.string().regex(DNS_NAME, "must be a lower-case DNS name"),
    example: "freightrate.example",
  },
  hostedZoneId: {
    schema: z.string().regex(/^Z[A-Z0-9]{5,32}$/, "must be a Route 53 hosted zone id (Z...)"),
    example: "Z0123456789ABCDEFGHIJ",
  },
  vpcCidr: {
    schema: z
      .string()
      .refine(isCidr, "is not an IPv4 CIDR")
      .refine((c) => Number(c.split("/")[1]) <= 20, "must be /20 or larger to hold six subnets"),
    example: "10.20.0.0/16",
  },
  natGatewaysPerAz: {
    schema: bool,
    example: "true",
    default: "true",
  },
  clusterVersion: {
    // 1.36 is the first release serving admissionregistration.k8s.io/v1 MutatingAdmissionPolicy,
    // which adds the tenant finalizer at admission (operators/api/admission.ts).
    schema: z
      .string()
      .regex(/^1\.\d{2}$/, "must be an EKS version such as 1.36")
      .refine(
        (v) => Number(v.split(".")[1]) >= 36,
        "must be 1.36 or later: the operators deploy a MutatingAdmissionPolicy (admissionregistration.k8s.io/v1), served from Kubernetes 1.36",
      ),
    example: "1.36",
  },
  clusterPublicAccessCidrs: { schema: cidrList, example: "'[\"203.0.113.0/24\"]'", default: "[]" },
  appNodeInstanceType: { schema: z.string().regex(/^[a-z0-9]+\.[a-z0-9]+$/), example: "m7i.large" },
  appNodeMin: { schema: int(1, 100), example: "3" },
  appNodeMax: { schema: int(1, 100), example: "6" },
  runnerNodeInstanceType: { schema: z.string().regex(/^[a-z0-9]+\.[a-z0-9]+$/), example: "c7i.xlarge" },
  runnerNodeMin: { schema: int(0, 200), example: "0" },
  runnerNodeMax: { schema: int(1, 200), example: "10" },
  dbInstanceClass: { schema: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/), example: "db.r7g.large" },
  dbEngineVersion: {
    schema: z.string().regex(/^1[4-8](\.\d+)?$/, "must be PostgreSQL 14-18"),
    example: "16.4",
  },
  dbAllocatedStorageGb: { schema: int(20, 65536), example: "100" },
  dbMaxAllocatedStorageGb: { schema: int(20, 65536), example: "500" },
  // 7 days is the floor the policy pack enforces; 35 is RDS's maximum point-in-time window.
  dbBackupRetentionDays: { schema: int(7, 35), example: "14" },
  dbMultiAz: { schema: bool, example: "true", default: "true" },
  analyticsReplicaInstanceClass: {
    schema: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/),
    example: "db.r7g.large",
    default: "db.r7g.large",
  },
  documentsArchiveAfterDays: { schema: int(30, 3650), example: "90" },
  documentsArchiveStorageClass: {
    schema: z.enum(["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]),
    example: "GLACIER_IR",
    default: "GLACIER_IR",
  },
  documentsNoncurrentVersionExpireDays: { schema: int(1, 3650), example: "30" },
  documentsReplication: { schema: bool, example: "true", default: "false" },
  imageRegistry: {
    schema: z.string().regex(/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/, "must be a registry host[/path]"),
    example: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
  },
  quoteApiImageTag: { schema: pinnedImage, example: PINNED_IMAGE_EXAMPLE },
  operatorsImageTag: { schema: pinnedImage, example: PINNED_IMAGE_EXAMPLE },
  apiMinReplicas: { schema: int(2, 100), example: "3" },
  apiMaxReplicas: { schema: int(2, 200), example: "12" },
  runnerMinReplicas: { schema: int(0, 100), example: "1" },
  runnerMaxReplicas: { schema: int(1, 500), example: "20" },
  activeRegion: { schema: z.enum(REGION_ROLES), example: "primary", default: "primary" },
  logLevel: {
    schema: z.enum(["trace", "debug", "info", "warn", "error"]),
    example: "info",
    default: "info",
  },
  secretRotationLambdaArn: {
    schema: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+$/,
        "must be a Lambda function ARN",
      ),
    example: "arn:aws:lambda:us-east-1:123456789012:function:secrets-rotation",
  },
  kedaChartVersion: {
    schema: z.string().regex(/^\d+\.\d+\.\d+$/, "must be a pinned x.y.z chart version"),
    example: "2.17.2",
    default: "2.17.2",
  },
  externalSecretsChartVersion: {
    schema: z.string().regex(/^\d+\.\d+\.\d+$/, "must be a pinned x.y.z chart version"),
    example: "0.19.2",
    default: "0.19.2",
  },
  clusterAutoscalerChartVersion: {
    schema: z.string().regex(/^\d+\.\d+\.\d+$/, "must be a pinned x.y.z chart version"),
    example: "9.46.6",
    default: "9.46.6",
  },
  loadBalancerControllerChartVersion: {
    schema: z.string().regex(/^\d+\.\d+\.\d+$/, "must be a pinned x.y.z chart version"),
    example: "1.13.0",
    default: "1.13.0",
  },
  kubePrometheusStackChartVersion: {
    schema: z.string().regex(/^\d+\.\d+\.\d+$/, "must be a pinned x.y.z chart version"),
    example: "72.0.0",
    default: "72.0.0",
  },
  operatorManifestsDir: {
    schema: z.string().min(1),
    example: "operators/deploy",
    default: "operators/deploy",
  },
  // This region's operators run the failover controller and its cluster holds the RegionFailover.
  // Exactly one of the two stacks turns it on (docs/deploy.md: the secondary, which must act when
  // the primary region is lost).
  failover: { schema: onOff, example: "on", default: "off" },
  failoverDatabaseDriver: {
    schema: z.enum(["rds"], "must be rds: the stacks run RDS, promoted with PromoteReadReplica"),
    example: "rds",
    optional: true,
  },
  failoverTrafficDriver: {
    schema: z.enum(["routing-row+route53", "routing-row"]),
    example: "routing-row+route53",
    optional: true,
  },
  // Automatic primary-loss failover (RegionFailover spec.automatic): off unless an environment opts
  // in, since it acts without a human. It fences the old primary first, as every unplanned flip
  // does, by making the fence security group each stack creates beside its database
  // (infra/database) the instance's only group.
  failoverAutomatic: { schema: onOff, example: "on", default: "off" },
  // The read canary (RegionFailover spec.readCanary): the API may read a share of lag-tolerant reads
  // from the other region's database (READ_CANARY_DATABASE_URL); the weight itself is on the CR.
  readCanary: { schema: onOff, example: "on", default: "off" },
  // Billing (app/billing): the API serves checkout and Stripe webhooks and applies plans to Tenants.
  billing: { schema: onOff, example: "on", default: "off" },
  // The first values of Stripe's secrets, on the primary (which owns the secrets; the secondary
  // reads their replicas). Pulumi writes them once; rotation owns the secret after that.
  stripeSecretKey: {
    schema: z
      .string()
      .regex(/^(sk|rk)_[A-Za-z0-9_]+$/, "must be a Stripe secret or restricted key (sk_... or rk_...)"),
    example: "<sk_live_... from the Stripe dashboard>",
    optional: true,
    secret: true,
  },
  stripeWebhookSecret: {
    schema: z
      .string()
      .regex(/^whsec_[A-Za-z0-9]+$/, "must be the webhook endpoint's signing secret (whsec_...)"),
    example: "<whsec_... of the endpoint https://api.<domain>/webhooks/stripe>",
    optional: true,
    secret: true,
  },
  // The CloudFront edge in front of both regions (infra/edge). One distribution for the platform:
  // only the primary declares it (docs/deploy.md says why).
  edge: { schema: onOff, example: "on", default: "off" },
  // The distribution's name; a single label under api.<domain>, which the API certificate covers.
  edgeHostname: {
    schema: z.string().regex(DNS_NAME, "must be a DNS name such as edge.api.freightrate.example"),
    example: "edge.api.<domain>",
    optional: true,
  },
  edgeLogRetentionDays: { schema: int(31, 3650), example: "365", default: "365" },
  // The OpenAI-compatible endpoint the runners' LLM-backed agent tasks call (LLM_BASE_URL); its key
  // is the freight/llm-provider-api-key secret. HTTPS on 443 only: the runners' egress allows that
  // port and no other to the internet (infra/workloads/network-flows.ts, runner-outbound).
  llmBaseUrl: {
    schema: z
      .url({ protocol: /^https$/, error: "must be an https:// URL, e.g. https://api.openai.com/v1" })
      .refine(
        (u) => ["", "443"].includes(new URL(u).port),
        "must use the default HTTPS port (443): the runners' egress allows no other",
      ),
    example: "https://api.openai.com/v1",
    default: "https://api.openai.com/v1",
  },
  // The workflow-automation service (the plan's n8n): the webhook base the runners POST workflow
  // events to (WORKFLOW_AUTOMATION_URL, <base>/<event>); its key is freight/workflow-automation-api-key.
  // HTTPS on 443 only, as for the LLM provider (runner-outbound).
  workflowAutomationUrl: {
    schema: z
      .url({
        protocol: /^https$/,
        error: "must be an https:// URL, e.g. https://automation.example.com/webhook",
      })
      .refine(
        (u) => ["", "443"].includes(new URL(u).port),
        "must use the default HTTPS port (443): the runners' egress allows no other",
      ),
    example: "https://automation.<domain>/webhook",
  },
  llmModel: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/, "must be a model name such as gpt-4o-mini"),
    example: "gpt-4o-mini",
    default: "gpt-4o-mini",
  },
} satisfies Record<string, KeySpec>;

interface KeySpec {
  schema: z.ZodType;
  example: string;
  default?: string;
  /** Absent unless a capability that needs it is on (crossChecks says which). */
  optional?: true;
  /** Set with `pulumi config set --secret`; its value never appears in an error. */
  secret?: true;
}

type Keys = typeof keys;
export type ConfigKey = keyof Keys;
export type StackConfig = {
  [K in ConfigKey]: Keys[K] extends { optional: true }
    ? z.output<Keys[K]["schema"]> | undefined
    : z.output<Keys[K]["schema"]>;
} & { stack: string };

export interface ConfigProblem {
  key: string;
  problem: string;
  fix: string;
}

/** Thrown when stack config is missing or invalid; lists every problem with the command that fixes it. */
export class StackConfigError extends Error {
  readonly problems: ConfigProblem[];
  readonly stackName: string;
  constructor(stack: string, problems: ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${p.key}: ${p.problem}\n      fix: ${p.fix}`);
    super(
      `Stack "${stack}" has ${problems.length} config problem${problems.length === 1 ? "" : "s"}; ` +
        `no resources were registered.\n${lines.join("\n")}`,
    );
    this.name = "StackConfigError";
    this.problems = problems;
    this.stackName = stack;
  }
}

/** Accepts `freight:key` and bare `key`; ignores other namespaces (aws:, kubernetes:). */
function ownKeys(raw: Record<string, string>): Map<string, string> {
  const own = new Map<string, string>();
  for (const [k, v] of Object.entries(raw)) {
    if (k.startsWith(`${CONFIG_NAMESPACE}:`)) own.set(k.slice(CONFIG_NAMESPACE.length + 1), v);
    else if (!k.includes(":")) own.set(k, v);
  }
  return own;
}

/** Settings that existed once, and why they went: an old stack file gets a reason, not "typo?". */
const RETIRED_KEYS: Record<string, string> = {
  failoverPrimaryFenceSecurityGroup:
    "each region's stack now creates the failover fence security group beside its database (infra/database) and the failover controller reads it from there",
  failoverSecondaryFenceSecurityGroup:
    "each region's stack now creates the failover fence security group beside its database (infra/database) and the failover controller reads it from there",
};

function setCommand(stack: string, key: string, value: string, secret = false): string {
  return `pulumi config set ${secret ? "--secret " : ""}${CONFIG_NAMESPACE}:${key} ${value} --stack ${stack}`;
}

/**
 * Validates raw Pulumi config for `stack`. Pure: no Pulumi runtime involved, so it is unit-testable
 * and runs before the program registers anything.
 */
export function parseStackConfig(stack: string, raw: Record<string, string>): StackConfig {
  const own = ownKeys(raw);
  const problems: ConfigProblem[] = [];
  const out: Record<string, unknown> = { stack };

  for (const [key, spec] of Object.entries(keys) as [ConfigKey, KeySpec][]) {
    const value = own.get(key) ?? spec.default;
    const name = `${CONFIG_NAMESPACE}:${key}`;
    if (value === undefined) {
      if (!spec.optional)
        problems.push({
          key: name,
          problem: "is missing",
          fix: setCommand(stack, key, spec.example, spec.secret),
        });
      continue;
    }
    const result = spec.schema.safeParse(value);
    if (result.success) {
      out[key] = result.data;
    } else {
      const message = result.error.issues.map((i) => i.message).join("; ");
      problems.push({
        key: name,
        problem: spec.secret ? `(secret value) ${message}` : `${JSON.stringify(value)} ${message}`,
        fix: setCommand(stack, key, spec.example, spec.secret),
      });
    }
  }

  for (const key of own.keys()) {
    const retired = RETIRED_KEYS[key];
    if (retired) {
      problems.push({
        key: `${CONFIG_NAMESPACE}:${key}`,
        problem: `is no longer a setting: ${retired}`,
        fix: `pulumi config rm ${CONFIG_NAMESPACE}:${key} --stack ${stack}`,
      });
    } else if (!(key in keys)) {
      problems.push({
        key: `${CONFIG_NAMESPACE}:${key}`,
        problem: "is not a known setting (typo?)",
        fix: `pulumi config rm ${CONFIG_NAMESPACE}:${key} --stack ${stack}`,
      });
    }
  }

  // Cross-field checks run beside the single-key ones, so one round of fixes is enough: each
  // compares only keys that are valid on their own (a missing or wrong key is already reported).
  const reported = new Set(problems.map((p) => p.key));
  problems.push(...crossChecks(stack, out as Partial<StackConfig>).filter((p) => !reported.has(p.key)));
  if (problems.length > 0) throw new StackConfigError(stack, problems);
  return out as StackConfig;
}

/** Runs `check` with the config narrowed to `needed` only when every one of them parsed. */
function given<K extends ConfigKey>(
  c: Partial<StackConfig>,
  needed: K[],
  check: (valid: Pick<StackConfig, K>) => void,
): void {
  if (needed.every((key) => c[key] !== undefined)) check(c as Pick<StackConfig, K>);
}

function crossChecks(stack: string, config: Partial<StackConfig>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const range = (lo: ConfigKey, hi: ConfigKey) => {
    const c = config as StackConfig;
    if (c[lo] === undefined || c[hi] === undefined) return;
    if ((c[lo] as number) > (c[hi] as number)) {
      problems.push({
        key: `${CONFIG_NAMESPACE}:${lo}`,
        problem: `${String(c[lo])} is above ${CONFIG_NAMESPACE}:${hi} (${String(c[hi])})`,
        fix: setCommand(stack, hi, String(c[lo])),
      });
    }
  };
  range("appNodeMin", "appNodeMax");
  range("runnerNodeMin", "runnerNodeMax");
  range("apiMinReplicas", "apiMaxReplicas");
  range("runnerMinReplicas", "runnerMaxReplicas");
  range("dbAllocatedStorageGb", "dbMaxAllocatedStorageGb");

  given(config, ["peerStack"], (c) => {
    if (c.peerStack.split("/")[2] !== stack) return;
    problems.push({
      key: `${CONFIG_NAMESPACE}:peerStack`,
      problem: "points at this stack itself; it must name the other region's stack",
      fix: setCommand(stack, "peerStack", "<org>/freight-platform/<other-stack>"),
    });
  });
  given(config, ["peerRegion", "region"], (c) => {
    if (c.peerRegion !== c.region) return;
    problems.push({
      key: `${CONFIG_NAMESPACE}:peerRegion`,
      problem: `equals ${CONFIG_NAMESPACE}:region (${c.region}); the two stacks must run in different regions`,
      fix: setCommand(stack, "peerRegion", "<the other stack's region>"),
    });
  });
  given(config, ["role", "documentsReplication"], (c) => {
    if (c.role !== "secondary" || !c.documentsReplication) return;
    problems.push({
      key: `${CONFIG_NAMESPACE}:documentsReplication`,
      problem: "is true on a secondary stack; only the primary replicates documents (to the secondary)",
      fix: `pulumi config rm ${CONFIG_NAMESPACE}:documentsReplication --stack ${stack}`,
    });
  });
  given(config, ["role", "dbMultiAz"], (c) => {
    if (c.role !== "primary" || c.dbMultiAz) return;
    problems.push({
      key: `${CONFIG_NAMESPACE}:dbMultiAz`,
      problem: "is false on the primary; the writable database must survive an AZ loss",
      fix: setCommand(stack, "dbMultiAz", "true"),
    });
  });
  given(config, ["role", "failover", "billing", "failoverAutomatic"], (c) =>
    problems.push(...capabilityChecks(stack, c)),
  );
  given(config, ["role", "edge", "domain", "region", "peerRegion"], (c) =>
    problems.push(...edgeChecks(stack, c)),
  );
  given(config, ["secretRotationLambdaArn", "region"], (c) => {
    const lambdaRegion = c.secretRotationLambdaArn.split(":")[3];
    if (lambdaRegion === c.region) return;
    problems.push({
      key: `${CONFIG_NAMESPACE}:secretRotationLambdaArn`,
      problem: `is in ${lambdaRegion}, but Secrets Manager can only invoke a rotation Lambda in ${c.region}`,
      fix: setCommand(
        stack,
        "secretRotationLambdaArn",
        `arn:aws:lambda:${c.region}:<account>:function:<name>`,
      ),
    });
  });
  return problems;
}

/** The region names and `failover` are taken under api.<domain>; the edge needs a label of its own. */
function edgeChecks(
  stack: string,
  c: Pick<StackConfig, "role" | "edge" | "domain" | "region" | "peerRegion"> & Partial<StackConfig>,
): ConfigProblem[] {
  if (!c.edge) return [];
  const key = `${CONFIG_NAMESPACE}:edge`;
  if (c.role === "secondary") {
    return [
      {
        key,
        problem:
          "is on in a secondary stack; the one CloudFront distribution of the platform is declared by the primary",
        fix: `pulumi config set ${CONFIG_NAMESPACE}:edge off --stack ${stack}`,
      },
    ];
  }
  const example = `edge.api.${c.domain}`;
  if (c.edgeHostname === undefined) {
    return [
      {
        key: `${CONFIG_NAMESPACE}:edgeHostname`,
        problem: `is required when ${key} is on (the name the distribution answers on)`,
        fix: setCommand(stack, "edgeHostname", example),
      },
    ];
  }
  const suffix = `.api.${c.domain}`;
  const label = c.edgeHostname.endsWith(suffix) ? c.edgeHostname.slice(0, -suffix.length) : undefined;
  const taken = new Set([c.region, c.peerRegion, "failover"]);
  if (label !== undefined && !label.includes(".") && !taken.has(label)) return [];
  return [
    {
      key: `${CONFIG_NAMESPACE}:edgeHostname`,
      problem:
        label === undefined || label.includes(".")
          ? `"${c.edgeHostname}" is not a single label under api.${c.domain}, so the API certificate (api.${c.domain}, *.api.${c.domain}) does not cover it`
          : `"${c.edgeHostname}" is already a Route 53 name of the regions (${[...taken].join(", ")} are taken)`,
      fix: setCommand(stack, "edgeHostname", example),
    },
  ];
}

/** A capability switched on needs its own keys; each missing one is named with the command that sets it. */
function capabilityChecks(
  stack: string,
  c: Pick<StackConfig, "role" | "failover" | "billing" | "failoverAutomatic"> & Partial<StackConfig>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const needs = (capability: string, needed: ConfigKey[], what: Partial<Record<ConfigKey, string>>) => {
    for (const key of needed) {
      if (c[key] !== undefined) continue;
      const spec: KeySpec = keys[key];
      problems.push({
        key: `${CONFIG_NAMESPACE}:${key}`,
        problem: `is required when ${CONFIG_NAMESPACE}:${capability} is on (${what[key]})`,
        fix: setCommand(stack, key, spec.example, spec.secret),
      });
    }
  };
  if (c.failover) {
    needs("failover", ["failoverDatabaseDriver", "failoverTrafficDriver"], {
      failoverDatabaseDriver: "how the failover controller promotes the replica",
      failoverTrafficDriver: "how it moves traffic: the routing row, and Route 53 weights",
    });
  }
  if (c.failoverAutomatic) {
    if (!c.failover)
      problems.push({
        key: `${CONFIG_NAMESPACE}:failoverAutomatic`,
        problem: `is on but ${CONFIG_NAMESPACE}:failover is off: automatic mode runs in the failover controller`,
        fix: setCommand(stack, "failover", "on", false),
      });
  }
  if (c.billing && c.role === "primary") {
    needs("billing", ["stripeSecretKey", "stripeWebhookSecret"], {
      stripeSecretKey: "the Stripe API key billing calls Stripe with; set it as a secret",
      stripeWebhookSecret: "the signing secret that verifies Stripe's webhooks; set it as a secret",
    });
  }
  if (c.role === "secondary") {
    for (const key of ["stripeSecretKey", "stripeWebhookSecret"] as const) {
      if (c[key] === undefined) continue;
      problems.push({
        key: `${CONFIG_NAMESPACE}:${key}`,
        problem:
          "is set on a secondary stack; the primary owns the Stripe secrets and this region reads their replicas",
        fix: `pulumi config rm ${CONFIG_NAMESPACE}:${key} --stack ${stack}`,
      });
    }
  }
  return problems;
}

/** The keys the schema knows, for documentation and tests. */
export const CONFIG_KEYS = Object.keys(keys) as ConfigKey[];
