// The quote API process: validated configuration, pools, the app, graceful shutdown on SIGTERM.
import type { FastifyInstance } from "fastify";
import { appEnv, type AppConfig } from "./config.ts";
import { loadEnv, secretValue } from "./env.ts";
import { createPool } from "./db/pool.ts";
import { buildApp, type BuildOptions } from "./http/app.ts";
import { createBilling } from "./billing/service.ts";
import { quoteApiCapabilities, reportCapabilities } from "./capabilities.ts";
import { createMetrics } from "./observability/metrics.ts";
import { RotationLedger, secretsManagerClient, startRotationWatch } from "./observability/secret-rotation.ts";
import { PRICING } from "./pricing/data.ts";
import { QuoteEngine } from "./pricing/engine.ts";
import { tenantRegistrarFromConfig } from "./signup/tenant-registrar.ts";
import { secretsManagerClientSecrets } from "./sso/client-secret.ts";

export interface RunningApp {
  app: FastifyInstance;
  url: string;
  stop(): Promise<void>;
}

/** `observeExchange` is buildApp's test-only hook (the contract check of tools/platform). */
export async function startApp(
  config: AppConfig,
  options: Pick<BuildOptions, "observeExchange"> = {},
): Promise<RunningApp> {
  // Pools on the secrets' files: a rotated password reaches new connections without a restart.
  const pool = createPool(secretValue(config, "DATABASE_URL")!, config.DB_POOL_SIZE);
  const opsUrl = secretValue(config, "OPS_DATABASE_URL");
  const opsPool = opsUrl ? createPool(opsUrl, 2) : undefined;
  const metrics = createMetrics();
  // Billing's start-up check (secrets, control plane) runs before the port opens.
  const billing = config.BILLING === "on" ? createBilling(config) : undefined;
  const tenants = tenantRegistrarFromConfig(config);
  // One Secrets Manager client: rotation dates (DescribeSecret) and tenants' SSO client secrets.
  const secretsManager = config.AWS_REGION
    ? secretsManagerClient({ region: config.AWS_REGION, endpoint: config.AWS_ENDPOINT_URL_SECRETS_MANAGER })
    : undefined;
  const secretRotation = new RotationLedger(metrics.secretLastRotated, metrics.readinessDegraded);
  const app = await buildApp({
    config,
    pool,
    opsPool,
    metrics,
    secretRotation,
    engine: new QuoteEngine(PRICING),
    billing,
    tenants,
    ssoSecrets: secretsManager && secretsManagerClientSecrets(secretsManager),
    observeExchange: options.observeExchange,
  });
  app.log.info(
    { target: tenants?.target ?? "nowhere: POST /v1/signup answers 503" },
    "signup creates Tenants on",
  );
  reportCapabilities(app.log, quoteApiCapabilities(config));
  const rotationWatch = startRotationWatch({
    config,
    ledger: secretRotation,
    log: app.log,
    client: secretsManager,
  });
  const address = await app.listen({ port: config.PORT, host: config.HOST });
  billing?.start();
  const url = address.replace("0.0.0.0", "127.0.0.1");
  return {
    app,
    url,
    async stop() {
      rotationWatch.stop();
      await app.close();
      await billing?.stop();
      tenants?.close();
      await pool.end();
      await opsPool?.end();
    },
  };
}

async function main(): Promise<void> {
  const config = loadEnv(appEnv);
  const running = await startApp(config);
  running.app.log.info(
    { url: running.url, region: config.REGION_NAME, role: config.REGION_ROLE },
    "quote API listening",
  );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.app.log.info({ signal }, "draining and shutting down");
    running.stop().then(
      () => process.exit(0),
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

if (import.meta.main) await main();
