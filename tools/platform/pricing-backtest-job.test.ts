// The weekly pricing backtest on the two-region local platform, run exactly as the stacks deploy it:
// the pricing-backtest CronJob's container with the operators' login as a Secret file, reading the
// PricingModel through the control plane as its own ServiceAccount (the Role the stacks grant: get
// and list PricingModels, nothing else). A model with no experiment has its champion backtested
// against the settled bookings and the result stored for the controller to read.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../../app/db/pool.ts";
import { provisionTenant } from "../../app/db/seed.ts";
import { PRICING_MODELS_NAMESPACE } from "../../app/ops/pricing-backtest.ts";
import { latestBacktest } from "../../app/pricing/backtest.ts";
import { apiVersion } from "../../operators/api/group.ts";
import type { PricingModel } from "../../operators/api/pricingmodel.ts";
import { pricingModels } from "../../operators/api/resources.ts";
import { buildTimeoutMs } from "../localcluster/test-support.ts";
import { startPlatform, type LocalPlatform } from "./platform.ts";
import { settleBookings } from "./pricing-rollout.ts";

let platform: LocalPlatform;
let operator: pg.Pool;

beforeAll(async () => {
  platform = await startPlatform({ name: "pricing", seed: "plans" });
  operator = createPool(platform.primaryDatabase.urls.operator, 2);
}, buildTimeoutMs);
afterAll(async () => {
  await operator?.end();
  await platform?.stop();
});

describe("the pricing backtest CronJob on the local platform", () => {
  it("backtests the champion of a model without an experiment and stores a passing result", async () => {
    const champion = {
      name: "2026-12.1",
      coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
      guardrails: { minMarginPercent: 8 },
    };
    const model: PricingModel = {
      apiVersion,
      kind: "PricingModel",
      metadata: { name: "spot-rates", namespace: PRICING_MODELS_NAMESPACE },
      spec: { versions: [champion], aliases: { champion: champion.name } },
    };
    await platform.regions.primary.admin.apply(pricingModels, model, { fieldManager: "pricing-team" });
    const { tenantId } = await provisionTenant(operator, {
      slug: "settled-co",
      name: "Settled",
      planId: "pro",
    });
    await settleBookings(platform.primaryDatabase.urls.app, tenantId, champion, 4);

    const job = await platform.runJob("primary", "pricing-backtest");
    expect(job.exitCode, job.output).toBe(0);
    expect(job.output).toMatch(/Backtest of spot-rates version 2026-12\.1 .*12 settled bookings/);
    expect(job.output).toContain("PASS: every guardrail holds.");
    expect(await latestBacktest(operator, "spot-rates", "2026-12.1")).toMatchObject({
      passed: true,
      samples: 12,
      weeks: 4,
    });
  }, 180_000);
});
