// The failover controller's configuration, from the environment (FAILOVER_*), validated once at
// start with every problem listed. The controller is enabled by FAILOVER_PRIMARY_HEALTH_URL; the
// drivers are chosen by FAILOVER_DATABASE_DRIVER and FAILOVER_TRAFFIC_DRIVER.
import { z } from "zod";
import { defineEnv, type ConfigProblem, type Env } from "../../../app/env.ts";

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL");
const rdsInstance = z
  .string()
  .regex(/^[a-z]{2}-[a-z]+-\d+:[A-Za-z][A-Za-z0-9-]*$/, "must be <aws-region>:<DBInstanceIdentifier>");
const healthCheckId = z
  .string()
  .regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
    "must be a Route 53 health check id (a UUID, the stack output healthCheckId)",
  );

export const failoverConfigSchema = z.object({
  FAILOVER_PRIMARY_HEALTH_URL: z.url(
    "must be the primary region's readiness URL, e.g. https://api-use1/readyz",
  ),
  FAILOVER_SECONDARY_HEALTH_URL: z.url("must be the secondary region's readiness URL"),
  // Each region's database as a role that may read replication state and call pg_promote.
  FAILOVER_PRIMARY_DB_ADMIN_URL: postgresUrl,
  FAILOVER_SECONDARY_DB_ADMIN_URL: postgresUrl,
  // Each region's database as freight_operator: the region_routing row.
  FAILOVER_PRIMARY_DB_OPERATOR_URL: postgresUrl,
  FAILOVER_SECONDARY_DB_OPERATOR_URL: postgresUrl,
  // The runners' REGION_NAME in each region (runner_heartbeats.region).
  FAILOVER_PRIMARY_REGION_NAME: z.string().min(1).default("primary"),
  FAILOVER_SECONDARY_REGION_NAME: z.string().min(1).default("secondary"),
  FAILOVER_DATABASE_DRIVER: z.enum(["postgres", "rds"]).default("postgres"),
  FAILOVER_TRAFFIC_DRIVER: z.enum(["routing-row", "routing-row+route53"]).default("routing-row"),
  RDS_PRIMARY_INSTANCE: rdsInstance.optional(),
  RDS_SECONDARY_INSTANCE: rdsInstance.optional(),
  ROUTE53_HOSTED_ZONE_ID: z.string().min(1).optional(),
  ROUTE53_RECORD_NAME: z.string().min(1).optional(),
  ROUTE53_PRIMARY_TARGET: z.string().min(1).optional(),
  ROUTE53_SECONDARY_TARGET: z.string().min(1).optional(),
  // Each region's Route 53 health check (infra/dns/dns.ts): automatic mode's third loss signal
  // reads its status (GetHealthCheckStatus). Absent, automatic mode judges with the other two.
  ROUTE53_PRIMARY_HEALTH_CHECK_ID: healthCheckId.optional(),
  ROUTE53_SECONDARY_HEALTH_CHECK_ID: healthCheckId.optional(),
  // The fence automatic flips need before promoting (drivers/postgres.ts, drivers/rds.ts): the RDS
  // driver swaps in a no-ingress security group; the postgres driver marks the data directory.
  RDS_PRIMARY_FENCE_SECURITY_GROUP: z
    .string()
    .regex(/^sg-[0-9a-z]+$/, "must be a VPC security group id (sg-...)")
    .optional(),
  RDS_SECONDARY_FENCE_SECURITY_GROUP: z
    .string()
    .regex(/^sg-[0-9a-z]+$/, "must be a VPC security group id (sg-...)")
    .optional(),
  FAILOVER_PRIMARY_DB_DATA_DIR: z
    .string()
    .startsWith("/", "must be an absolute path to the data directory")
    .optional(),
  FAILOVER_SECONDARY_DB_DATA_DIR: z
    .string()
    .startsWith("/", "must be an absolute path to the data directory")
    .optional(),
  FAILOVER_HEALTH_SAMPLES: z.coerce.number().int().min(1).max(50).default(5),
});

export type FailoverConfig = z.infer<typeof failoverConfigSchema>;

export function failoverEnabled(env: Env = process.env): boolean {
  return Boolean(env.FAILOVER_PRIMARY_HEALTH_URL);
}

export const failoverEnv = defineEnv({
  process: "failover controller",
  schema: failoverConfigSchema,
  // Each region's database logins, read from <NAME>_FILE (mounted Secret keys, app/env.ts).
  secrets: [
    "FAILOVER_PRIMARY_DB_ADMIN_URL",
    "FAILOVER_SECONDARY_DB_ADMIN_URL",
    "FAILOVER_PRIMARY_DB_OPERATOR_URL",
    "FAILOVER_SECONDARY_DB_OPERATOR_URL",
  ],
  check: (c) => {
    const problems: ConfigProblem[] = [];
    if (c.FAILOVER_DATABASE_DRIVER === "rds") {
      for (const variable of ["RDS_PRIMARY_INSTANCE", "RDS_SECONDARY_INSTANCE"] as const)
        if (!c[variable])
          problems.push({
            variable,
            message: "is required with FAILOVER_DATABASE_DRIVER=rds (<aws-region>:<id>)",
          });
    }
    if (c.FAILOVER_TRAFFIC_DRIVER === "routing-row+route53") {
      for (const variable of [
        "ROUTE53_HOSTED_ZONE_ID",
        "ROUTE53_RECORD_NAME",
        "ROUTE53_PRIMARY_TARGET",
        "ROUTE53_SECONDARY_TARGET",
      ] as const)
        if (!c[variable])
          problems.push({
            variable,
            message: "is required with FAILOVER_TRAFFIC_DRIVER=routing-row+route53",
          });
    }
    return problems;
  },
});

/** The failover controller's configuration from `env`; throws ConfigError listing every problem. */
export function parseFailoverConfig(env: Env): FailoverConfig {
  return failoverEnv.parse(env);
}
