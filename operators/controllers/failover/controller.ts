// Wires the failover reconciler into a manager, with the drivers the configuration names.
//
//   FAILOVER_PRIMARY_HEALTH_URL=... FAILOVER_SECONDARY_HEALTH_URL=... npm run operators
import { RDSClient } from "@aws-sdk/client-rds";
import { Route53Client } from "@aws-sdk/client-route-53";
import type { Logger } from "pino";
import pg from "pg";
import { runnersDrained } from "../../../app/jobs/drain.ts";
import { secretValue } from "../../../app/env.ts";
import type { SecretValue } from "../../../app/secret-file.ts";
import type { Region, RegionFailover } from "../../api/regionfailover.ts";
import { regionFailovers } from "../../api/resources.ts";
import { Controller } from "../../runtime/controller.ts";
import type { Manager } from "../../runtime/manager.ts";
import { specOrMetadataChanged } from "../../runtime/predicates.ts";
import type { FailoverConfig } from "./config.ts";
import { PostgresDatabaseDriver, regionPools } from "./drivers/postgres.ts";
import { RdsDatabaseDriver } from "./drivers/rds.ts";
import { CombinedTrafficDriver, Route53TrafficDriver } from "./drivers/route53.ts";
import { RoutingRowDriver } from "./drivers/routing-row.ts";
import type { DatabaseDriver, TrafficDriver } from "./drivers/types.ts";
import { sampleHealth } from "./health.ts";
import { DatabaseWatch, DnsHealthCheckSignal, readinessSignal } from "./signals.ts";
import { EventRecorder } from "../../runtime/events.ts";
import { FailoverReconciler, type FailoverWorld } from "./reconciler.ts";

function rdsInstance(value: string): { awsRegion: string; identifier: string } {
  const [awsRegion = "", identifier = ""] = value.split(":");
  return { awsRegion, identifier };
}

export function failoverWorld(config: FailoverConfig): FailoverWorld & { close(): Promise<void> } {
  // The mounted files: a rotated login reaches new connections without a restart.
  const adminUrls: Record<Region, SecretValue> = {
    primary: secretValue(config, "FAILOVER_PRIMARY_DB_ADMIN_URL")!,
    secondary: secretValue(config, "FAILOVER_SECONDARY_DB_ADMIN_URL")!,
  };
  // The host fence of the postgres driver: only where this process can reach the data directories.
  const dataDirs: Partial<Record<Region, string>> = {};
  if (config.FAILOVER_PRIMARY_DB_DATA_DIR) dataDirs.primary = config.FAILOVER_PRIMARY_DB_DATA_DIR;
  if (config.FAILOVER_SECONDARY_DB_DATA_DIR) dataDirs.secondary = config.FAILOVER_SECONDARY_DB_DATA_DIR;
  const postgres = new PostgresDatabaseDriver(adminUrls, dataDirs);
  const fenceSecurityGroups: Partial<Record<Region, string>> = {};
  if (config.RDS_PRIMARY_FENCE_SECURITY_GROUP)
    fenceSecurityGroups.primary = config.RDS_PRIMARY_FENCE_SECURITY_GROUP;
  if (config.RDS_SECONDARY_FENCE_SECURITY_GROUP)
    fenceSecurityGroups.secondary = config.RDS_SECONDARY_FENCE_SECURITY_GROUP;
  const database: DatabaseDriver =
    config.FAILOVER_DATABASE_DRIVER === "rds"
      ? new RdsDatabaseDriver({
          instances: {
            primary: rdsInstance(config.RDS_PRIMARY_INSTANCE!),
            secondary: rdsInstance(config.RDS_SECONDARY_INSTANCE!),
          },
          lag: postgres,
          fenceSecurityGroups,
          // AWS_ENDPOINT_URL_RDS (SDK standard) points it elsewhere, e.g. a local endpoint.
          client: (region) => new RDSClient({ region }),
        })
      : postgres;
  const routingRow = new RoutingRowDriver({
    primary: secretValue(config, "FAILOVER_PRIMARY_DB_OPERATOR_URL")!,
    secondary: secretValue(config, "FAILOVER_SECONDARY_DB_OPERATOR_URL")!,
  });
  const traffic: TrafficDriver =
    config.FAILOVER_TRAFFIC_DRIVER === "routing-row+route53"
      ? new CombinedTrafficDriver(
          routingRow,
          new Route53TrafficDriver({
            hostedZoneId: config.ROUTE53_HOSTED_ZONE_ID!,
            recordName: config.ROUTE53_RECORD_NAME!,
            targets: { primary: config.ROUTE53_PRIMARY_TARGET!, secondary: config.ROUTE53_SECONDARY_TARGET! },
          }),
        )
      : routingRow;
  const admin: Record<Region, pg.Pool> = regionPools(adminUrls);
  const watch = new DatabaseWatch(regionPools(adminUrls));
  // Route 53 is global, its API in us-east-1; AWS_ENDPOINT_URL_ROUTE_53 (SDK standard) points it
  // elsewhere. Read each reconcile of automatic mode: well under Route 53's 5 requests/s.
  const healthCheckIds: Partial<Record<Region, string>> = {};
  if (config.ROUTE53_PRIMARY_HEALTH_CHECK_ID) healthCheckIds.primary = config.ROUTE53_PRIMARY_HEALTH_CHECK_ID;
  if (config.ROUTE53_SECONDARY_HEALTH_CHECK_ID)
    healthCheckIds.secondary = config.ROUTE53_SECONDARY_HEALTH_CHECK_ID;
  const route53 = new Route53Client({ region: "us-east-1", maxAttempts: 1 });
  const dnsCheck = new DnsHealthCheckSignal(route53, healthCheckIds);
  const healthUrls: Record<Region, string> = {
    primary: config.FAILOVER_PRIMARY_HEALTH_URL,
    secondary: config.FAILOVER_SECONDARY_HEALTH_URL,
  };
  const regionNames: Record<Region, string> = {
    primary: config.FAILOVER_PRIMARY_REGION_NAME,
    secondary: config.FAILOVER_SECONDARY_REGION_NAME,
  };
  return {
    database,
    traffic,
    health: (region) => sampleHealth(healthUrls[region], { samples: config.FAILOVER_HEALTH_SAMPLES }),
    async lossSignals(region) {
      // One quick probe: a loss must be seen within the confirmation window, not after a timeout.
      const [database, readiness, dns] = await Promise.all([
        watch.reading(region),
        sampleHealth(healthUrls[region], { samples: 1, timeoutMs: 1000 }),
        dnsCheck.has(region) ? dnsCheck.reading(region) : undefined,
      ]);
      return dns ? [database, readinessSignal(readiness), dns] : [database, readinessSignal(readiness)];
    },
    // The runners' heartbeats and leases live in the serving database, whichever region they run in.
    runnersDrained: async (region) => (await runnersDrained(admin[region], regionNames[region])).drained,
    async integrity(region) {
      const { rows } = await admin[region].query<{ invoices: number; queue_depth: number }>(
        `SELECT (SELECT count(*) FROM invoices)::int AS invoices,
                ((SELECT count(*) FROM jobs WHERE state = 'queued')
                 + (SELECT count(*) FROM agent_tasks WHERE status IN ('queued', 'retrying')))::int AS queue_depth`,
      );
      return { invoices: rows[0]?.invoices ?? 0, queueDepth: rows[0]?.queue_depth ?? 0 };
    },
    async close() {
      watch.close();
      route53.destroy();
      await Promise.all([
        database === postgres ? Promise.resolve() : database.close(),
        postgres.close(),
        traffic.close(),
        admin.primary.end(),
        admin.secondary.end(),
      ]);
    },
  };
}

export function addFailoverController(
  manager: Manager,
  options: { world: FailoverWorld; log?: Logger },
): Controller {
  const failovers = manager.informer<RegionFailover>(regionFailovers);
  const log = (options.log ?? manager.log).child({ controller: "failover" });
  const reconciler = new FailoverReconciler({
    client: manager.client,
    world: options.world,
    log,
    // What automatic mode decided, where `kubectl describe regionfailover` shows it.
    events: new EventRecorder(
      manager.client,
      "platform.freight.dev/failover-controller",
      manager.identity,
      log,
    ),
  });
  // One worker: a flip is one object, and its steps must never run concurrently.
  const controller = new Controller({ name: "failover", reconciler, workers: 1 });
  // Our own status writes must not wake us; the reconciler requeues itself while a flip runs.
  controller.watch(failovers, { predicates: [specOrMetadataChanged] });
  manager.add(controller);
  return controller;
}
