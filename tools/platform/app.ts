// The real app on a free loopback port over a throw-away database, for tests that speak HTTP.
import type { FastifyInstance } from "fastify";
import { parseAppConfig } from "../../app/config.ts";
import { createPool } from "../../app/db/pool.ts";
import { provisionTenant, type ProvisionedTenant } from "../../app/db/seed.ts";
import type { Meter } from "../../app/metering/meters.ts";
import { startApp } from "../../app/server.ts";
import { startTestDatabase, type TestDatabase } from "../postgres/test-database.ts";
import { ContractCheck } from "./contract-check.ts";

export interface TestApp {
  url: string;
  app: FastifyInstance;
  db: TestDatabase;
  apiKeys: Record<string, string>;
  /** Every answer held to the app's OpenAPI document; stop() fails when one drifted. */
  contract: ContractCheck;
  stop(): Promise<void>;
}

export async function startTestApp(
  options: { seed?: "demo" | "plans"; env?: Record<string, string>; db?: TestDatabase } = {},
): Promise<TestApp> {
  const db = options.db ?? (await startTestDatabase({ seed: options.seed ?? "demo" }));
  const config = parseAppConfig({
    DATABASE_URL: db.urls.app,
    OPS_DATABASE_URL: db.urls.ops,
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    AUTH_CACHE_SECONDS: "0",
    ...options.env,
  });
  const contract = new ContractCheck();
  const running = await startApp(config, { observeExchange: contract.observe });
  contract.against(() => running.app.apiContract.document());
  return {
    url: running.url,
    app: running.app,
    db,
    apiKeys: db.demoKeys,
    contract,
    async stop() {
      await running.stop();
      if (!options.db) await db.stop();
      contract.assertClean();
    },
  };
}

/**
 * A new tenant on `planId` with its own key; `allowance` replaces one meter's limits the way an ops
 * override does (no overage), so a test reaches a ceiling in a few requests on any plan.
 */
export async function provisionTestTenant(
  db: TestDatabase,
  planId: string,
  allowance?: { meter: Meter; included: number; hardCeiling: number },
): Promise<ProvisionedTenant> {
  const operator = createPool(db.urls.operator, 1);
  try {
    const tenant = await provisionTenant(operator, {
      slug: `t-${planId}-${Math.random().toString(36).slice(2, 10)}`,
      name: `Test tenant on ${planId}`,
      planId,
    });
    if (allowance) {
      await operator.query(
        `UPDATE entitlements SET included = $3, hard_ceiling = $4, overage_allowed = false,
           overage_unit_price_cents = NULL, source = 'override' WHERE tenant_id = $1 AND meter = $2`,
        [tenant.tenantId, allowance.meter, allowance.included, allowance.hardCeiling],
      );
    }
    return tenant;
  } finally {
    await operator.end();
  }
}
