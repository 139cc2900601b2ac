// The manager's configuration, from the environment, validated once at start (app/env.ts): every
// bad or missing key is reported together with what it should look like.
import { hostname } from "node:os";
import { z } from "zod";
import { rotationConfigProblems, rotationConfigShape } from "../app/config.ts";
import { combineEnv, defineEnv, postgresUrl, type Env } from "../app/env.ts";
import { OPERATOR_NAMESPACE } from "./api/group.ts";
import { LEADER_LEASE_NAME } from "./api/rbac.ts";
import { failoverEnabled, failoverEnv, type FailoverConfig } from "./controllers/failover/config.ts";

const boolean = z.enum(["true", "false"]).transform((v) => v === "true");
const seconds = (fallback: number) => z.coerce.number().positive().default(fallback);

export const operatorConfigSchema = z.object({
  DATABASE_URL: postgresUrl(
    "the app database as the freight_operator role",
    "postgres://freight_operator:...@host:5432/freight",
  ),
  KUBECONFIG: z.string().optional(),
  PROBE_PORT: z.coerce.number().int().min(0).max(65535).default(8081),
  PROBE_HOST: z.string().default("0.0.0.0"),
  POD_NAME: z.string().min(1).optional(),
  LEADER_ELECT: boolean.default(true),
  LEADER_ELECTION_NAMESPACE: z.string().min(1).default(OPERATOR_NAMESPACE),
  LEADER_ELECTION_LEASE: z.string().min(1).default(LEADER_LEASE_NAME),
  USAGE_REFRESH_SECONDS: seconds(60),
  RESYNC_SECONDS: seconds(600),
  // How often enabled tenants in the database are compared with the Tenant objects, offboarding
  // those deleted without the finalizer while no operator ran (controllers/tenant/sweep.ts). A
  // sweep with nothing to do costs one query; the leak it closes waits at most this long.
  TENANT_SWEEP_SECONDS: seconds(300),
  // Reconciles mostly wait on the API server and the database, and neither sees the worker count:
  // API requests go through the client's adaptive window (runtime/congestion.ts) and database work
  // through group commit (runtime/batcher.ts). Workers only bound how many reconciles can join a
  // batch, so there are many.
  TENANT_WORKERS: z.coerce.number().int().min(1).max(1024).default(256),
  // The pricing controller serves PricingModels of one namespace (the split row is keyed by the
  // model's name); the stacks put the model beside the operators.
  PRICING_NAMESPACE: z.string().min(1).default(OPERATOR_NAMESPACE),
  // How often a PricingModel's analysis metrics (settled actuals) are read again between holds: the
  // variance gauges and a paused (inconclusive) analysis are at most this stale.
  PRICING_ANALYSIS_SECONDS: seconds(60),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(20),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  // The ages of the secrets the manager uses, against their rotation windows, read as the quote API
  // reads them (app/observability/secret-rotation.ts); /readyz is "degraded" within 7 days of a deadline.
  ...rotationConfigShape,
});

export type OperatorConfig = z.infer<typeof operatorConfigSchema> & { identity: string };

export const operatorEnv = defineEnv({
  process: "operator manager",
  schema: operatorConfigSchema,
  secrets: ["DATABASE_URL"],
  check: rotationConfigProblems,
  finish: (config): OperatorConfig => ({
    ...config,
    identity: config.POD_NAME ?? `${hostname()}-${process.pid}`,
  }),
});

/** The operator manager's configuration from `env`; throws ConfigError listing every problem. */
export function parseOperatorConfig(env: Env): OperatorConfig {
  return operatorEnv.parse(env);
}

/**
 * The manager process as a whole: its own variables and, where FAILOVER_* is configured, the
 * failover controller's, checked together so one message lists every problem of the Deployment.
 */
export function parseManagerConfig(env: Env): {
  operator: OperatorConfig;
  failover: FailoverConfig | undefined;
} {
  const { operator, failover } = combineEnv<{ operator: OperatorConfig; failover: FailoverConfig }>(
    operatorEnv.process,
    { operator: operatorEnv, failover: failoverEnabled(env) ? failoverEnv : undefined },
  ).parse(env);
  return { operator: operator!, failover };
}

export const managerEnv = { process: operatorEnv.process, parse: parseManagerConfig };
