// The runner process (the stacks' `runner` Deployment): works bulk rating jobs and agent tasks, serves
// /metrics, /healthz and /readyz on RUNNER_PORT, and drains on SIGTERM within RUNNER_DRAIN_SECONDS.
import { documentStoreFrom } from "../documents/storage.ts";
import { reportCapabilities, runnerCapabilities } from "../capabilities.ts";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { loadEnv, secretValue } from "../env.ts";
import { createPool } from "../db/pool.ts";
import { queueStats } from "../jobs/scaling.ts";
import { createMetrics, type AppMetrics } from "../observability/metrics.ts";
import { RotationLedger, startRotationWatch } from "../observability/secret-rotation.ts";
import { PRICING } from "../pricing/data.ts";
import { QuoteEngine } from "../pricing/engine.ts";
import { PricingSplits } from "../pricing/pricing-splits.ts";
import { QuotePricing } from "../pricing/quote-pricing.ts";
import { defaultHandlers } from "./agent-tasks.ts";
import { createBillingMail } from "./billing-notice.ts";
import { LlmProvider } from "../llm/provider.ts";
import { WorkflowAutomation } from "../workflow/automation.ts";
import { runnerEnv, type RunnerConfig } from "./config.ts";
import { Runner } from "./runner.ts";

export interface RunningRunner {
  runner: Runner;
  /** The LLM provider the agent tasks call (undefined without LLM_BASE_URL). */
  llm: LlmProvider | undefined;
  /** Workflow automation (undefined without WORKFLOW_AUTOMATION_URL). */
  workflow: WorkflowAutomation | undefined;
  url: string;
  stop(): Promise<void>;
}

export async function startRunner(config: RunnerConfig): Promise<RunningRunner> {
  const log = pino({
    level: config.LOG_LEVEL,
    base: { runner: config.runnerId, region: config.REGION_NAME },
  });
  // One connection per slot, plus the loop, the renewals and the scrape.
  // On the secret's file: a rotated password reaches new connections without a restart.
  const pool = createPool(
    secretValue(config, "DATABASE_URL")!,
    config.RUNNER_BULK_SLOTS + config.RUNNER_AGENT_SLOTS + 3,
  );
  const smtpUrl = secretValue(config, "SMTP_URL");
  const metrics = createMetrics();
  const mail =
    smtpUrl && config.BILLING_EMAIL_FROM ? createBillingMail(smtpUrl, config.BILLING_EMAIL_FROM) : undefined;
  // Said once here; each notice that arrives without mail fails and queues a billing_alert for ops.
  reportCapabilities(log, runnerCapabilities(config));
  const llmApiKey = secretValue(config, "LLM_API_KEY");
  const llm =
    config.LLM_BASE_URL && llmApiKey
      ? new LlmProvider({
          baseUrl: config.LLM_BASE_URL,
          model: config.LLM_MODEL,
          apiKey: llmApiKey,
          timeoutMs: config.LLM_TIMEOUT_MS,
          breakerFailures: config.LLM_BREAKER_FAILURES,
          breakerHalfOpenMs: config.LLM_BREAKER_HALF_OPEN_MS,
          metrics,
          log,
        })
      : undefined;
  // Bulk lanes are priced with the API's split, refreshed on the same notification.
  const engine = new QuoteEngine(PRICING);
  const splits = new PricingSplits({
    pool,
    connectionString: config.DATABASE_URL,
    model: config.PRICING_MODEL,
    data: PRICING,
    onError: (error) =>
      log.warn({ err: error }, "pricing split not refreshed; pricing with the last split read"),
  });
  await splits.start();
  const workflowApiKey = secretValue(config, "WORKFLOW_AUTOMATION_API_KEY");
  const workflow =
    config.WORKFLOW_AUTOMATION_URL && workflowApiKey
      ? new WorkflowAutomation({
          baseUrl: config.WORKFLOW_AUTOMATION_URL,
          apiKey: workflowApiKey,
          timeoutMs: config.WORKFLOW_AUTOMATION_TIMEOUT_MS,
          breakerFailures: config.WORKFLOW_AUTOMATION_BREAKER_FAILURES,
          breakerHalfOpenMs: config.WORKFLOW_AUTOMATION_BREAKER_HALF_OPEN_MS,
          metrics,
          log,
        })
      : undefined;
  const runner = new Runner({
    pool,
    pricing: new QuotePricing(engine, () => splits.current()),
    metrics,
    log,
    runnerId: config.runnerId,
    region: config.REGION_NAME,
    handlers: defaultHandlers({
      pool,
      webhookUrl: secretValue(config, "OPS_WEBHOOK_URL"),
      log,
      mail,
      llm,
      workflow,
      metrics,
      documents: documentStoreFrom(config),
      exportLinkTtlSeconds: config.DSR_EXPORT_LINK_TTL_SECONDS,
    }),
    bulkSlots: config.RUNNER_BULK_SLOTS,
    agentSlots: config.RUNNER_AGENT_SLOTS,
    batchLanes: config.RUNNER_BATCH_LANES,
    leaseSeconds: config.RUNNER_LEASE_SECONDS,
    pollMs: config.RUNNER_POLL_MS,
    drainSeconds: config.RUNNER_DRAIN_SECONDS,
    retryBaseMs: config.RUNNER_RETRY_BASE_MS,
    retryMaxMs: config.RUNNER_RETRY_MAX_MS,
    agentTimeoutMs: config.RUNNER_AGENT_TIMEOUT_MS,
    agentTimeoutsMs: {
      data_export: config.RUNNER_EXPORT_TIMEOUT_MS,
      dsr_fulfil: config.RUNNER_DSR_TIMEOUT_MS,
    },
  });
  const rotation = new RotationLedger(metrics.secretLastRotated, metrics.readinessDegraded);
  const rotationWatch = startRotationWatch({ config, ledger: rotation, log });
  await runner.start();
  const server = runnerServer(runner, { llm, workflow }, rotation, pool, metrics, config);
  await new Promise<void>((resolve) => server.listen(config.RUNNER_PORT, config.RUNNER_HOST, resolve));
  const { port } = server.address() as AddressInfo;
  log.info(
    {
      port,
      delivery: config.OPS_WEBHOOK_URL ? "webhook" : "log",
      billingNotices: mail ? "smtp" : "off",
      llm: llm ? { baseUrl: config.LLM_BASE_URL, model: config.LLM_MODEL } : "fallbacks only",
      workflowAutomation: workflow ? config.WORKFLOW_AUTOMATION_URL : "log only",
      bulkSlots: config.RUNNER_BULK_SLOTS,
    },
    "runner started",
  );
  return {
    runner,
    llm,
    workflow,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      rotationWatch.stop();
      await runner.stop();
      await splits.stop();
      await new Promise((resolve) => server.close(resolve));
      mail?.transport.close();
      await pool.end();
    },
  };
}

/** The dependencies whose trouble turns the runner yellow. */
export interface RunnerDependencies {
  llm: LlmProvider | undefined;
  workflow?: WorkflowAutomation | undefined;
}

/**
 * The runner's readiness: "ok", "degraded" (yellow: still serving and ready; the LLM provider's
 * circuit is open so LLM tasks fall back or wait, workflow automation rejects our credential or its
 * circuit is open so workflow events wait, or a secret it uses is near or past its rotation
 * deadline) or "stuck" (503: the loop stopped going round).
 */
export function runnerReadiness(
  runner: Runner,
  dependencies: RunnerDependencies,
  stuckAfterMs: number,
  rotation?: RotationLedger,
): { httpStatus: number; body: Record<string, unknown> } {
  const { llm, workflow } = dependencies;
  const healthy = Date.now() - runner.lastTick < stuckAfterMs;
  const secrets = rotation?.readiness();
  const degraded =
    (llm !== undefined && llm.state !== "closed") ||
    (workflow !== undefined && workflow.degradedReasons.length > 0) ||
    secrets?.degraded === true;
  return {
    httpStatus: healthy ? 200 : 503,
    body: {
      status: !healthy ? "stuck" : degraded ? "degraded" : "ok",
      state: runner.state,
      inFlight: runner.inFlight,
      ...(secrets ? { checks: { secrets: secrets.detail } } : {}),
      ...(llm
        ? {
            llm: {
              circuit: llm.state,
              ...(llm.degradedSince ? { degradedSince: new Date(llm.degradedSince).toISOString() } : {}),
            },
          }
        : {}),
      ...(workflow
        ? {
            workflowAutomation: {
              circuit: workflow.circuit,
              degraded: workflow.degradedReasons,
              ...(workflow.degradedSince
                ? { degradedSince: new Date(workflow.degradedSince).toISOString() }
                : {}),
            },
          }
        : {}),
    },
  };
}

function runnerServer(
  runner: Runner,
  dependencies: RunnerDependencies,
  rotation: RotationLedger,
  pool: ReturnType<typeof createPool>,
  metrics: AppMetrics,
  config: RunnerConfig,
): Server {
  let lastGauges = 0;
  // A loop that has not gone round for this long is stuck: let Kubernetes restart the pod.
  const stuckAfterMs = Math.max(30_000, config.RUNNER_POLL_MS * 20);
  return createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    const reply = (status: number, type: string, body: string) => {
      response.writeHead(status, { "content-type": type }).end(body);
    };
    if (path === "/healthz" || path === "/readyz") {
      const readiness = runnerReadiness(runner, dependencies, stuckAfterMs, rotation);
      reply(readiness.httpStatus, "application/json", JSON.stringify(readiness.body));
      return;
    }
    if (path === "/metrics") {
      void (async () => {
        // readiness_degraded{check="secret-rotation"} as of this scrape, as the API's /metrics does.
        rotation.readiness();
        if (Date.now() - lastGauges > 5_000) {
          lastGauges = Date.now();
          for (const q of await queueStats(pool).catch(() => [])) {
            metrics.jobsQueueDepth.set({ queue: q.queue }, q.depth);
            metrics.jobsOldestAgeSeconds.set({ queue: q.queue }, q.oldestAgeSeconds);
          }
        }
        reply(200, metrics.registry.contentType, await metrics.registry.metrics());
      })().catch((error: Error) => reply(500, "text/plain", error.message));
      return;
    }
    reply(404, "text/plain", "not found: the runner serves /metrics, /healthz and /readyz\n");
  });
}

async function main(): Promise<void> {
  const config = loadEnv(runnerEnv);
  const running = await startRunner(config);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(
      JSON.stringify({ msg: "stopping: draining in-flight work", signal, runner: config.runnerId }),
    );
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

if (import.meta.main) await main();
