// The manager's configuration, from the environment, validated once at start: every bad or
// missing key is reported together with what it should look like.
import { hostname } from "node:os";
import { z } from "zod";
import { OPERATOR_NAMESPACE } from "./api/group.ts";
import { LEADER_LEASE_NAME } from "./api/rbac.ts";

const boolean = z.enum(["true", "false"]).transform((v) => v === "true");
const seconds = (fallback: number) => z.coerce.number().positive().default(fallback);

const schema = z.object({
  DATABASE_URL: z
    .string({
      error: "DATABASE_URL is required: the app database, as the freight_operator role (postgres://...)",
    })
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// URL"),
  KUBECONFIG: z.string().optional(),
  PROBE_PORT: z.coerce.number().int().min(0).max(65535).default(8081),
  PROBE_HOST: z.string().default("0.0.0.0"),
  POD_NAME: z.string().min(1).optional(),
  LEADER_ELECT: boolean.default(true),
  LEADER_ELECTION_NAMESPACE: z.string().min(1).default(OPERATOR_NAMESPACE),
  LEADER_ELECTION_LEASE: z.string().min(1).default(LEADER_LEASE_NAME),
  USAGE_REFRESH_SECONDS: seconds(60),
  RESYNC_SECONDS: seconds(600),
  // Reconciles mostly wait on the API server and the database (the process itself used ~2 CPU
  // seconds for 500 tenants), so more workers than cores pays off.
  TENANT_WORKERS: z.coerce.number().int().min(1).max(64).default(16),
  RATELIMIT_WORKERS: z.coerce.number().int().min(1).max(64).default(8),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(20),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
});

export type OperatorConfig = z.infer<typeof schema> & { identity: string };

export function loadConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues
      .map((i) => `  ${i.path.join(".") || "(env)"}: ${i.message}`)
      .join("\n");
    throw new Error(`Invalid operator configuration:\n${problems}`);
  }
  return { ...result.data, identity: result.data.POD_NAME ?? `${hostname()}-${process.pid}` };
}
