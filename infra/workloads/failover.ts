// What the failover controller needs to run in a region's operators: its FAILOVER_* environment
// (operators/controllers/failover/config.ts) with the RDS database driver and the Route 53 traffic
// driver, and the IAM policy of its IRSA role, scoped to the two databases and the API's weighted
// records. Pure functions of the two regions' facts, so the stack tests read them exactly.
import { apiHostname, READINESS_PATH, regionalHostname } from "../dns/dns.ts";
import type { EnvVar, SecretFile } from "./pod-spec.ts";
import { secretFile } from "./pod-spec.ts";

export type Region = "primary" | "secondary";

/** One region's side of the failover, whichever stack it comes from (this one or the peer). */
export interface FailoverRegion {
  /** AWS region, e.g. us-east-1; also the runners' REGION_NAME in runner_heartbeats. */
  awsRegion: string;
  dbArn: string;
  dbIdentifier: string;
  dbAddress: string;
  /** The no-ingress VPC security group that fences this database before any unplanned promotion. */
  fenceSecurityGroupId?: string;
  /** This region's Route 53 health check (infra/dns/dns.ts): automatic mode's DNS signal. */
  healthCheckId?: string;
}

export interface FailoverSettings {
  domain: string;
  hostedZoneId: string;
  databaseDriver: "rds";
  trafficDriver: "routing-row+route53" | "routing-row";
  regions: Record<Region, FailoverRegion>;
  /** RegionFailover spec.automatic.enabled, from the stack config (off by default). */
  automatic: boolean;
}

/** Secret (in the operators' namespace) with both regions' freight_operator URLs. */
export const FAILOVER_DATABASES_SECRET = "failover-databases";
export const failoverDatabaseKey = (region: Region) => `${region.toUpperCase()}_DATABASE_URL`;

/**
 * Each region's database logins as files of FAILOVER_DATABASES_SECRET. With the RDS driver the
 * "admin" connection only reads WAL positions (promotion is an AWS call), which any login may: the
 * operators' own login serves, no superuser needed.
 */
export function failoverSecretFiles(): SecretFile[] {
  return (["primary", "secondary"] as const).flatMap((region) => {
    const prefix = `FAILOVER_${region.toUpperCase()}`;
    return [
      secretFile(`${prefix}_DB_ADMIN_URL`, FAILOVER_DATABASES_SECRET, failoverDatabaseKey(region)),
      secretFile(`${prefix}_DB_OPERATOR_URL`, FAILOVER_DATABASES_SECRET, failoverDatabaseKey(region)),
    ];
  });
}

export function failoverEnv(settings: FailoverSettings): EnvVar[] {
  const { regions } = settings;
  const perRegion = (region: Region): EnvVar[] => {
    const prefix = `FAILOVER_${region.toUpperCase()}`;
    return [
      {
        name: `${prefix}_HEALTH_URL`,
        value: `https://${regionalHostname(settings.domain, regions[region].awsRegion)}${READINESS_PATH}`,
      },
      { name: `${prefix}_REGION_NAME`, value: regions[region].awsRegion },
    ];
  };
  const env: EnvVar[] = [
    ...perRegion("primary"),
    ...perRegion("secondary"),
    { name: "FAILOVER_DATABASE_DRIVER", value: settings.databaseDriver },
    { name: "RDS_PRIMARY_INSTANCE", value: `${regions.primary.awsRegion}:${regions.primary.dbIdentifier}` },
    {
      name: "RDS_SECONDARY_INSTANCE",
      value: `${regions.secondary.awsRegion}:${regions.secondary.dbIdentifier}`,
    },
    { name: "FAILOVER_TRAFFIC_DRIVER", value: settings.trafficDriver },
  ];
  for (const region of ["primary", "secondary"] as const) {
    const group = regions[region].fenceSecurityGroupId;
    if (group) env.push({ name: `RDS_${region.toUpperCase()}_FENCE_SECURITY_GROUP`, value: group });
  }
  // Whatever moves traffic, automatic mode reads both regions' health checks (one is the serving one).
  for (const region of ["primary", "secondary"] as const) {
    const id = regions[region].healthCheckId;
    if (id) env.push({ name: `ROUTE53_${region.toUpperCase()}_HEALTH_CHECK_ID`, value: id });
  }
  if (settings.trafficDriver === "routing-row+route53") {
    env.push(
      { name: "ROUTE53_HOSTED_ZONE_ID", value: settings.hostedZoneId },
      { name: "ROUTE53_RECORD_NAME", value: apiHostname(settings.domain) },
      {
        name: "ROUTE53_PRIMARY_TARGET",
        value: regionalHostname(settings.domain, regions.primary.awsRegion),
      },
      {
        name: "ROUTE53_SECONDARY_TARGET",
        value: regionalHostname(settings.domain, regions.secondary.awsRegion),
      },
    );
  }
  return env;
}

/**
 * Least privilege for the controller's drivers: describe and promote exactly the two databases
 * (and, with automatic mode or a fence group, fence them: modify their security groups and reboot them); list the
 * zone's records and UPSERT only the API name's CNAMEs (the weights); read the status of the two
 * regions' health checks (automatic mode's DNS signal). Nothing else.
 */
export function failoverPolicy(settings: FailoverSettings): Record<string, unknown> {
  const zone = `arn:aws:route53:::hostedzone/${settings.hostedZoneId}`;
  const statements: Record<string, unknown>[] = [
    {
      Sid: "DescribeAndPromoteTheTwoDatabases",
      Effect: "Allow",
      Action: ["rds:DescribeDBInstances", "rds:PromoteReadReplica"],
      Resource: [settings.regions.primary.dbArn, settings.regions.secondary.dbArn],
    },
  ];
  // Any unplanned flip (automatic or on-call's) fences the old primary once a fence group is given.
  const fenceable = Object.values(settings.regions).some((r) => r.fenceSecurityGroupId);
  if (settings.automatic || fenceable) {
    statements.push({
      Sid: "FenceTheTwoDatabases",
      Effect: "Allow",
      Action: ["rds:ModifyDBInstance", "rds:RebootDBInstance"],
      Resource: [settings.regions.primary.dbArn, settings.regions.secondary.dbArn],
    });
  }
  const healthChecks = Object.values(settings.regions).flatMap((r) =>
    r.healthCheckId ? [`arn:aws:route53:::healthcheck/${r.healthCheckId}`] : [],
  );
  if (healthChecks.length > 0) {
    statements.push({
      Sid: "ReadTheRegionsHealthChecks",
      Effect: "Allow",
      Action: ["route53:GetHealthCheckStatus"],
      Resource: healthChecks,
    });
  }
  if (settings.trafficDriver === "routing-row+route53") {
    statements.push(
      {
        Sid: "ReadApiRecords",
        Effect: "Allow",
        Action: ["route53:ListResourceRecordSets"],
        Resource: zone,
      },
      {
        Sid: "MoveApiWeights",
        Effect: "Allow",
        Action: ["route53:ChangeResourceRecordSets"],
        Resource: zone,
        Condition: {
          "ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": [apiHostname(settings.domain)],
            "route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"],
            "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
          },
        },
      },
    );
  }
  return { Version: "2012-10-17", Statement: statements };
}
