// The operators' manager process: one process hosting the tenant, rate-limit and pricing controllers
// (and failover where configured), with leader election, probes on :8081 (/healthz, /readyz,
// /metrics) and graceful shutdown.
//
//   DATABASE_URL=postgres://freight_operator:...@db/freight KUBECONFIG=~/.kube/config npm run operators
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { operatorCapabilities, reportCapabilities } from "../app/capabilities.ts";
import { createPool } from "../app/db/pool.ts";
import { loadEnv, secretValue } from "../app/env.ts";
import { managerEnv } from "./config.ts";
import { addPricingController } from "./controllers/pricing/controller.ts";
import { addFailoverController, failoverWorld } from "./controllers/failover/controller.ts";
import { addRateLimitController } from "./controllers/ratelimit/controller.ts";
import { addTenantController } from "./controllers/tenant/controller.ts";
import { KubeClient } from "./runtime/kube.ts";
import { Manager } from "./runtime/manager.ts";
import { RotationLedger, rotationGauges, startRotationWatch } from "../app/observability/secret-rotation.ts";

// The failover controller runs where FAILOVER_* is configured (one manager per environment).
const { operator: config, failover: failoverConfig } = loadEnv(managerEnv);
const failover = failoverConfig ? failoverWorld(failoverConfig) : undefined;

const log = pino({ level: config.LOG_LEVEL, base: { identity: config.identity } });
const kubeConfig = new KubeConfig();
// KUBECONFIG when set, else in-cluster (the Deployment's ServiceAccount), else ~/.kube/config.
kubeConfig.loadFromDefault();
reportCapabilities(log, operatorCapabilities(failover !== undefined));
// On the secret's file: a rotated password reaches new connections without a restart.
const pool = createPool(secretValue(config, "DATABASE_URL")!, config.DATABASE_POOL_SIZE);
const manager = new Manager({
  client: new KubeClient(kubeConfig, { userAgent: `freight-operators/${config.identity}` }),
  log,
  identity: config.identity,
  probePort: config.PROBE_PORT,
  probeHost: config.PROBE_HOST,
  resyncMs: config.RESYNC_SECONDS * 1000,
  leaderElection: config.LEADER_ELECT
    ? { namespace: config.LEADER_ELECTION_NAMESPACE, name: config.LEADER_ELECTION_LEASE }
    : undefined,
  degraded: () => rotation.readiness(),
});
// The manager's own secrets against their rotation windows, checked as the quote API checks its own;
// the gauge is refreshed each minute, so the page does not wait for a /readyz probe.
const gauges = rotationGauges(manager.metrics.registry);
const rotation = new RotationLedger(gauges.secretLastRotated, gauges.readinessDegraded);
const rotationWatch = startRotationWatch({ config, ledger: rotation, log });
setInterval(() => rotation.readiness(), 60_000).unref();
addTenantController(manager, {
  pool,
  usageRefreshMs: config.USAGE_REFRESH_SECONDS * 1000,
  sweepIntervalMs: config.TENANT_SWEEP_SECONDS * 1000,
  workers: config.TENANT_WORKERS,
});
addRateLimitController(manager);
addPricingController(manager, {
  pool,
  namespace: config.PRICING_NAMESPACE,
  analysisIntervalMs: config.PRICING_ANALYSIS_SECONDS * 1000,
});
if (failover) addFailoverController(manager, { world: failover });

let stopping = false;
async function shutdown(signal: string, code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down: finishing in-flight reconciles and releasing the lease");
  const force = setTimeout(() => {
    log.error("shutdown took longer than 25 s; exiting");
    process.exit(1);
  }, 25_000);
  force.unref();
  rotationWatch.stop();
  await manager.stop();
  await pool.end();
  await failover?.close();
  process.exit(code);
}
process.on("SIGTERM", () => void shutdown("SIGTERM", 0));
process.on("SIGINT", () => void shutdown("SIGINT", 0));
if (process.env.EXIT_WITH_STDIN === "true") {
  // Started by a test or a dev tool: when the parent dies (our stdin closes), do not linger.
  process.stdin.on("close", () => void shutdown("stdin closed", 0));
  process.stdin.resume();
}

const { probeUrl } = await manager.start();
log.info({ probeUrl, server: manager.client.server }, "operators started");
await manager.done();
if (manager.lostLeadership) {
  // Another replica leads now; exit so the orchestrator restarts us as a clean standby.
  log.error("leadership lost; exiting");
  await shutdown("leadership-lost", 1);
}
