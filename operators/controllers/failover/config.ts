// The failover controller's configuration, from the environment (FAILOVER_*), validated once at
// start with every problem listed. The controller is enabled by FAILOVER_PRIMARY_HEALTH_URL; the
// drivers are chosen by FAILOVER_DATABASE_DRIVER and FAILOVER_TRAFFIC_DRIVER.
import { z } from "zod";

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL");
const rdsInstance = z
  .string()
  .regex(/^[a-z]{2}-[a-z]+-\d+:[A-Za-z][A-Za-z0-9-]*$/, "must be <aws-region>:<DBInstanceIdentifier>");

const schema = z.object({
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
  FAILOVER_HEALTH_SAMPLES: z.coerce.number().int().min(1).max(50).default(5),
});

export type FailoverConfig = z.infer<typeof schema>;

export function failoverEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.FAILOVER_PRIMARY_HEALTH_URL);
}

export function loadFailoverConfig(env: NodeJS.ProcessEnv = process.env): FailoverConfig {
  const problems: string[] = [];
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join(".")}: ${issue.message}`);
  } else {
    const c = parsed.data;
    if (c.FAILOVER_DATABASE_DRIVER === "rds") {
      for (const key of ["RDS_PRIMARY_INSTANCE", "RDS_SECONDARY_INSTANCE"] as const)
        if (!c[key]) problems.push(`${key}: required with FAILOVER_DATABASE_DRIVER=rds (<aws-region>:<id>)`);
    }
    if (c.FAILOVER_TRAFFIC_DRIVER === "routing-row+route53") {
      for (const key of [
        "ROUTE53_HOSTED_ZONE_ID",
        "ROUTE53_RECORD_NAME",
        "ROUTE53_PRIMARY_TARGET",
        "ROUTE53_SECONDARY_TARGET",
      ] as const)
        if (!c[key]) problems.push(`${key}: required with FAILOVER_TRAFFIC_DRIVER=routing-row+route53`);
    }
  }
  if (problems.length || !parsed.success) {
    throw new Error(`Invalid failover configuration:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
  return parsed.data;
}
