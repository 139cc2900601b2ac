// `npm run pricing:backtest` end to end: the CLI as a process, the versions read from PricingModel
// objects on a real kube-apiserver as the backtest's own ServiceAccount (exactly the Role the stacks
// grant), settled bookings in a real PostgreSQL read as the operators' role, each result stored and
// read back with latestBacktest. Bad flags, a missing model or version and an empty window are refused
// with what to do.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { crdsPath } from "../../operators/api/generate.ts";
import { apiVersion } from "../../operators/api/group.ts";
import type { ModelVersion, PricingModel } from "../../operators/api/pricingmodel.ts";
import { pricingModels } from "../../operators/api/resources.ts";
import { builtin, KubeClient } from "../../operators/runtime/kube.ts";
import { applyManifest, waitFor } from "../../tools/platform/operators.ts";
import { startCluster, type LocalCluster } from "../../tools/localcluster/fixture.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { settleBookings } from "../../tools/platform/pricing-rollout.ts";
import {
  pricingBacktestRole,
  pricingBacktestRoleBinding,
} from "../../infra/workloads/pricing-backtest-access.ts";
import { createPool } from "../db/pool.ts";
import { provisionTenant } from "../db/seed.ts";
import { latestBacktest } from "../pricing/backtest.ts";
import { main, PRICING_MODELS_NAMESPACE } from "./pricing-backtest.ts";

const run = promisify(execFile);
const ACCOUNT = { namespace: "freight", name: "pricing-backtest" };
const NS = PRICING_MODELS_NAMESPACE;

let db: TestDatabase;
let cluster: LocalCluster;
let operator: pg.Pool;
let env: Record<string, string>;

const version = (name: string, overrides: Partial<ModelVersion> = {}): ModelVersion => ({
  name,
  coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
  guardrails: { minMarginPercent: 8 },
  ...overrides,
});
const GOOD = version("good");
beforeAll(async () => {
  [db, cluster] = await Promise.all([
    startTestDatabase({ seed: "plans" }),
    startCluster({ name: "backtest" }),
  ]);
  operator = createPool(db.urls.operator, 2);
  const admin = new KubeClient(cluster.kubeConfig, { userAgent: "pricing-backtest-test" });
  await applyManifest(admin, crdsPath);
  await admin.apply(
    builtin.namespaces,
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
    {
      fieldManager: "platform-tests",
    },
  );
  const rbac = { group: "rbac.authorization.k8s.io", version: "v1", kind: "", namespaced: true };
  await admin.apply({ ...rbac, plural: "roles", kind: "Role" }, pricingBacktestRole(NS), {
    fieldManager: "pulumi-kubernetes",
  });
  await admin.apply(
    { ...rbac, plural: "rolebindings", kind: "RoleBinding" },
    pricingBacktestRoleBinding(NS, ACCOUNT),
    {
      fieldManager: "pulumi-kubernetes",
    },
  );
  await waitFor("the PricingModel CRD served", async () => {
    await admin.list(pricingModels, { namespace: NS });
    return true;
  });
  const model: PricingModel = {
    apiVersion,
    kind: "PricingModel",
    metadata: { name: "spot-rates", namespace: NS },
    spec: {
      versions: [
        GOOD,
        // Prices linehaul 30 % under what the market invoiced: variance far over 10 %.
        version("drifting", {
          coefficients: { linehaulMultiplier: 0.7, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
        }),
        // The same prices as good, but a floor the carriers' cost (90 % of the invoice) leaves unmet.
        version("thin-margin", { guardrails: { minMarginPercent: 12 } }),
        // A midwest cap below cost: the floor keeps Chicago's quotes above it, a breach each.
        version("capped", {
          guardrails: { minMarginPercent: 8, regionalCaps: [{ region: "midwest", maxCentsPerMile: 50 }] },
        }),
      ],
      aliases: { champion: "good", challenger: "drifting" },
    },
  };
  await admin.apply(pricingModels, model, { fieldManager: "pricing-team" });
  admin.close();
  const { tenantId } = await provisionTenant(operator, { slug: "bt-a", name: "A", planId: "pro" });
  await settleBookings(db.urls.app, tenantId, GOOD, 6);
  const credentials = await cluster.serviceAccountKubeconfig(ACCOUNT.namespace, ACCOUNT.name);
  env = {
    PATH: process.env["PATH"] ?? "",
    OPERATOR_DATABASE_URL: db.urls.operator,
    KUBECONFIG: credentials.kubeconfigPath,
    PRICING_MODEL_NAMESPACE: NS,
  };
}, 600_000);
afterAll(async () => {
  await operator?.end();
  await cluster?.stop();
  await db?.stop();
});

/** The CLI as its own process, as the CronJob runs it. */
async function backtestProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", ["app/ops/pricing-backtest.ts", ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The CLI's entry point in this process (a process start costs seconds on a loaded machine). */
async function backtest(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((line: string) => void out.push(line));
  const error = vi.spyOn(console, "error").mockImplementation((line: string) => void err.push(line));
  try {
    const code = await main(args, env);
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe("npm run pricing:backtest", { timeout: 300_000 }, () => {
  it("passes a version that prices like the settled actuals, per region and equipment, and stores the result", async () => {
    const result = await backtestProcess("--model", "spot-rates", "--version", "good", "--weeks", "4");
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/18 settled bookings/);
    expect(result.stdout).toMatch(/midwest\s+dry_van\s+n=6/);
    expect(result.stdout).toMatch(/southeast\s+reefer\s+n=6/);
    expect(result.stdout).toMatch(/PASS/);
    const stored = await latestBacktest(operator, "spot-rates", "good");
    expect(stored).toMatchObject({ passed: true, samples: 18, capBreaches: 0, failures: [], weeks: 4 });
    expect(stored!.absVariancePercent).toBeCloseTo(2, 0);
    expect(stored!.marginPercent).toBeCloseTo(11.1, 0);
    expect(stored!.groups).toHaveLength(3);
  });

  it("fails a drifting version on variance, a thin one on margin and a capped one on breaches (exit 1)", async () => {
    const drifting = await backtest("--model", "spot-rates", "--version", "drifting");
    expect(drifting.code).toBe(1);
    expect(drifting.stdout).toMatch(/FAIL: mean absolute variance vs invoiced is \d+\.?\d* % \(limit 10 %\)/);
    const thin = await backtest("--model", "spot-rates", "--version", "thin-margin");
    expect(thin.code).toBe(1);
    expect(thin.stdout).toMatch(/FAIL: margin over carrier cost is 11\.\d+ % \(floor 12 %\)$/m);
    const capped = await backtest("--model", "spot-rates", "--version", "capped");
    expect(capped.code).toBe(1);
    expect(capped.stdout).toMatch(/6 bookings would be quoted above their regional cap/);
    expect(await latestBacktest(operator, "spot-rates", "capped")).toMatchObject({
      passed: false,
      capBreaches: 6,
    });
  });

  it("backtests each model's challenger on the schedule", async () => {
    const scheduled = await backtestProcess("--scheduled", "--weeks", "4");
    expect(scheduled.code).toBe(1);
    expect(scheduled.stdout).toMatch(/Backtest of spot-rates version drifting/);
    expect(scheduled.stdout).not.toMatch(/version good/);
  });

  it("refuses a missing model, a missing version and an empty window, storing nothing (exit 3)", async () => {
    const before = (await operator.query("SELECT count(*)::int AS n FROM pricing_backtests")).rows[0].n;
    const model = await backtest("--model", "nope", "--version", "good");
    expect(model.code).toBe(3);
    expect(model.stderr).toMatch(
      `PricingModel nope not found in namespace ${NS}; \`kubectl get pricingmodels -n ${NS}\``,
    );
    const missing = await backtest("--model", "spot-rates", "--version", "v9");
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(
      /has no version 'v9'; its versions are good, drifting, thin-margin, capped/,
    );
    const empty = await backtest("--model", "spot-rates", "--version", "good", "--weeks", "1");
    expect(empty.code).toBe(3);
    expect(empty.stderr).toMatch(
      /No settled bookings to replay between \d{4}-\d{2}-\d{2} and \d{4}-\d{2}-\d{2}: import settlements/,
    );
    expect((await operator.query("SELECT count(*)::int AS n FROM pricing_backtests")).rows[0].n).toBe(before);
  });

  it("refuses bad flags with the usage (exit 2)", async () => {
    for (const [args, message] of [
      [
        ["--model", "spot-rates", "--version", "good", "--weeks", "0"],
        /--weeks must be a whole number of weeks from 1 to 52, not '0'/,
      ],
      [["--model", "spot-rates", "--version", "good", "--weeks", "four"], /not 'four'/],
      [["--model", "spot-rates"], /--version is required/],
      [["--version", "good"], /--model is required/],
      [["--model", "spot-rates", "--version", "good", "--colour"], /Unknown option '--colour'/],
      [["--scheduled", "--model", "spot-rates"], /--scheduled picks the models and versions itself/],
    ] as const) {
      const result = await backtest(...args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/Usage: npm run pricing:backtest/);
    }
  });
});
