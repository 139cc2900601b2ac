// The runner process's configuration from the environment, validated once (app/env.ts); every
// problem in one message.
import { hostname } from "node:os";
import { z } from "zod";
import { appConfigSchema, rotationConfigProblems, rotationConfigShape } from "../config.ts";
import { defineEnv, postgresUrl, type ConfigProblem, type Env } from "../env.ts";

export const runnerConfigSchema = z.object({
  DATABASE_URL: postgresUrl(
    "the freight_runner role's connection URL",
    "postgres://freight_runner:...@host:5432/freight",
  ),
  REGION_NAME: z.string().min(1).default("local"),
  RUNNER_ID: z.string().min(1).max(200).optional(),
  RUNNER_PORT: z.coerce.number().int().min(0).max(65535).default(8082),
  RUNNER_HOST: z.string().default("0.0.0.0"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Bulk rating jobs one runner works on at once (each tenant is further bound by its own limit). */
  RUNNER_BULK_SLOTS: z.coerce.number().int().min(0).max(256).default(4),
  /** Agent tasks one runner works on at once. */
  RUNNER_AGENT_SLOTS: z.coerce.number().int().min(0).max(256).default(8),
  /** Lanes priced and committed per transaction: the checkpoint a crashed job resumes from. */
  RUNNER_BATCH_LANES: z.coerce.number().int().min(1).max(10_000).default(500),
  /** A claim is lost when not renewed for this long; then another runner retries the job. */
  RUNNER_LEASE_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  /** Idle wait between claims when the queues are empty. */
  RUNNER_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(250),
  /** The PricingModel bulk lanes are priced with, as the quote API's (app/config.ts). */
  PRICING_MODEL: appConfigSchema.shape.PRICING_MODEL,
  /** How long a pause or SIGTERM waits for in-flight work before handing it back to the queue. */
  RUNNER_DRAIN_SECONDS: z.coerce.number().min(0).max(3600).default(60),
  RUNNER_RETRY_BASE_MS: z.coerce.number().int().min(1).max(3_600_000).default(2_000),
  RUNNER_RETRY_MAX_MS: z.coerce.number().int().min(1).max(86_400_000).default(600_000),
  RUNNER_AGENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
  /** data_export reads a whole tenant: its own, longer bound per attempt. */
  RUNNER_EXPORT_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(600_000),
  /** A data subject request's fulfilment (dsr_fulfil) reads or erases a whole tenant too. */
  RUNNER_DSR_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(600_000),
  // The documents buckets, as the quote API names them (app/config.ts): a tenant's export bundle
  // carries its documents and a tenant erasure removes them. Unset: a tenant with documents cannot
  // be fulfilled (the task fails saying so); end users' requests and document-less tenants still are.
  // A deleted Tenant's data_export sends ops a link to its bundle, good this long (the API's key and
  // default: a day, as a data subject's link).
  DSR_EXPORT_LINK_TTL_SECONDS: appConfigSchema.shape.DSR_EXPORT_LINK_TTL_SECONDS,
  DOCUMENTS_BUCKET_PRIMARY: appConfigSchema.shape.DOCUMENTS_BUCKET_PRIMARY,
  DOCUMENTS_BUCKET_SECONDARY: appConfigSchema.shape.DOCUMENTS_BUCKET_SECONDARY,
  DOCUMENTS_S3_ENDPOINT_PRIMARY: appConfigSchema.shape.DOCUMENTS_S3_ENDPOINT_PRIMARY,
  DOCUMENTS_S3_ENDPOINT_SECONDARY: appConfigSchema.shape.DOCUMENTS_S3_ENDPOINT_SECONDARY,
  // The ages of the secrets the runner uses, against their rotation windows (read as the quote API
  // reads them: app/observability/secret-rotation.ts); /readyz is "degraded" within 7 days of a deadline.
  ...rotationConfigShape,
  /** Where notify_ops tasks are POSTed; without it they are written as structured log lines. */
  OPS_WEBHOOK_URL: z.preprocess(
    (value) => (value === "" ? undefined : value),
    z.url("must be an absolute URL, e.g. https://hooks.example.com/freight-ops").optional(),
  ),
  /** Where billing notices are sent from; without it billing_notice tasks fail and alert ops. */
  SMTP_URL: z.preprocess(
    (value) => (value === "" ? undefined : value),
    z
      .string()
      .regex(
        /^smtps?:\/\/[^/]+/,
        "must be an smtp:// or smtps:// URL, e.g. smtps://user:password@email-smtp.eu-west-1.amazonaws.com:465",
      )
      .optional(),
  ),
  /**
   * The OpenAI-compatible endpoint the LLM-backed agent tasks call (app/llm/provider.ts), e.g.
   * https://api.openai.com/v1. Unset: those tasks use their fallbacks (rules, template) only.
   */
  LLM_BASE_URL: z.preprocess(
    (value) => (value === "" ? undefined : value),
    z
      .url({ protocol: /^https?$/, error: "must be an http(s):// URL, e.g. https://api.openai.com/v1" })
      .optional(),
  ),
  LLM_MODEL: z.string().min(1).max(200).default("gpt-4o-mini"),
  /** The provider's key; from LLM_API_KEY_FILE (the third-party-api-keys Secret), rotated every 30 days. */
  LLM_API_KEY: z.string().min(1).optional(),
  /** One call's bound, headers and body: a slow, stalled or endless answer is cut off here. */
  LLM_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(6_000),
  /** Consecutive failed calls that open the circuit (the provider is then "degraded"). */
  LLM_BREAKER_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  /** How long an open circuit waits before a trial call. */
  LLM_BREAKER_HALF_OPEN_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /**
   * The workflow-automation service's webhook base (the plan's n8n), e.g.
   * https://n8n.example.com/webhook; each workflow_event goes to <base>/<event>. Unset: events are
   * logged only.
   */
  WORKFLOW_AUTOMATION_URL: z.preprocess(
    (value) => (value === "" ? undefined : value),
    z
      .url({
        protocol: /^https?$/,
        error: "must be an http(s):// URL, e.g. https://n8n.example.com/webhook",
      })
      .optional(),
  ),
  /** Its key; from WORKFLOW_AUTOMATION_API_KEY_FILE (the third-party-api-keys Secret), rotated every 30 days. */
  WORKFLOW_AUTOMATION_API_KEY: z.string().min(1).optional(),
  /** One call's bound: a call and its two retries fit in a task's attempt (RUNNER_AGENT_TIMEOUT_MS 15 s). */
  WORKFLOW_AUTOMATION_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(4_000),
  WORKFLOW_AUTOMATION_BREAKER_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  WORKFLOW_AUTOMATION_BREAKER_HALF_OPEN_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** The From of billing notices, e.g. "Freight Billing <billing@freight.example>". */
  BILLING_EMAIL_FROM: z.preprocess(
    (value) => (value === "" ? undefined : value),
    z
      .string()
      .regex(
        /^[^<>]*<?[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+>?$/,
        'must be an address, e.g. "Freight Billing <billing@freight.example>"',
      )
      .optional(),
  ),
});

export type RunnerConfig = z.infer<typeof runnerConfigSchema> & { runnerId: string };

export const runnerEnv = defineEnv({
  process: "runner",
  schema: runnerConfigSchema,
  // Each read from <NAME>_FILE, a mounted Secret key (app/env.ts).
  secrets: ["DATABASE_URL", "OPS_WEBHOOK_URL", "SMTP_URL", "LLM_API_KEY", "WORKFLOW_AUTOMATION_API_KEY"],
  check: (config) => {
    const problems: ConfigProblem[] = [...rotationConfigProblems(config)];
    if (config.RUNNER_RETRY_MAX_MS < config.RUNNER_RETRY_BASE_MS)
      problems.push({
        variable: "RUNNER_RETRY_MAX_MS",
        message: `must be at least RUNNER_RETRY_BASE_MS (${config.RUNNER_RETRY_BASE_MS})`,
      });
    if (config.RUNNER_BULK_SLOTS + config.RUNNER_AGENT_SLOTS === 0)
      problems.push({
        variable: "RUNNER_BULK_SLOTS",
        message:
          "is 0 and so is RUNNER_AGENT_SLOTS: this runner would never work; give one of them 1 or more",
      });
    if (Boolean(config.DOCUMENTS_BUCKET_PRIMARY) !== Boolean(config.DOCUMENTS_BUCKET_SECONDARY))
      problems.push({
        variable: config.DOCUMENTS_BUCKET_PRIMARY ? "DOCUMENTS_BUCKET_SECONDARY" : "DOCUMENTS_BUCKET_PRIMARY",
        message:
          "is required with the other region's bucket: documents need both regions' buckets, or neither",
      });
    if (config.SMTP_URL && !config.BILLING_EMAIL_FROM)
      problems.push({
        variable: "BILLING_EMAIL_FROM",
        message: 'is required with SMTP_URL, e.g. "Freight Billing <billing@freight.example>"',
      });
    if (config.LLM_BASE_URL && !config.LLM_API_KEY)
      problems.push({
        variable: "LLM_API_KEY",
        message: "is required with LLM_BASE_URL: the provider's key, from the third-party-api-keys Secret",
      });
    if (config.WORKFLOW_AUTOMATION_URL && !config.WORKFLOW_AUTOMATION_API_KEY)
      problems.push({
        variable: "WORKFLOW_AUTOMATION_API_KEY",
        message:
          "is required with WORKFLOW_AUTOMATION_URL: the service's key, from the third-party-api-keys Secret",
      });
    // A call and its two retries (app/workflow/automation.ts) must fit in a task's attempt.
    if (
      config.WORKFLOW_AUTOMATION_URL &&
      3 * config.WORKFLOW_AUTOMATION_TIMEOUT_MS + 2000 > config.RUNNER_AGENT_TIMEOUT_MS
    )
      problems.push({
        variable: "WORKFLOW_AUTOMATION_TIMEOUT_MS",
        message: `must be at most ${Math.floor((config.RUNNER_AGENT_TIMEOUT_MS - 2000) / 3)} with RUNNER_AGENT_TIMEOUT_MS ${config.RUNNER_AGENT_TIMEOUT_MS}: a call and its two retries must fit in a task's attempt`,
      });
    // A call and its one retry (app/llm/provider.ts) must fit in a task's attempt, with a second to spare.
    if (config.LLM_BASE_URL && 2 * config.LLM_TIMEOUT_MS + 1000 > config.RUNNER_AGENT_TIMEOUT_MS)
      problems.push({
        variable: "LLM_TIMEOUT_MS",
        message: `must be at most ${Math.floor((config.RUNNER_AGENT_TIMEOUT_MS - 1000) / 2)} with RUNNER_AGENT_TIMEOUT_MS ${config.RUNNER_AGENT_TIMEOUT_MS}: a call and its one retry must fit in a task's attempt`,
      });
    return problems;
  },
  // The pod name in Kubernetes; unique per process so a restarted runner never inherits leases.
  finish: (config): RunnerConfig => ({
    ...config,
    runnerId: config.RUNNER_ID ?? `${hostname()}-${process.pid}-${Date.now().toString(36)}`,
  }),
});

/** The runner's configuration from `env`; throws ConfigError listing every problem. */
export function parseRunnerConfig(env: Env): RunnerConfig {
  return runnerEnv.parse(env);
}
