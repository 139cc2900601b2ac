// The pricing controller end to end: the manager process under the operators' ServiceAccount and its
// generated RBAC, a real API server and a real PostgreSQL holding quotes, bookings and invoices. A
// human (or the stacks) edits a PricingModel; the test watches what the quote path reads (the
// pricing_model_splits row), what on-call reads (status, conditions, events, kubectl get) and the
// manager's /metrics.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type pg from "pg";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../../../app/db/pool.ts";
import { provisionTenant } from "../../../app/db/seed.ts";
import { serverTable } from "../../../tools/localcluster/table.ts";
import {
  applyAs,
  metricValue,
  startOperator,
  startOperatorPlatform,
  waitFor,
  type OperatorPlatform,
  type OperatorProcess,
} from "../../../tools/platform/operators.ts";
import { seedSettledQuotes } from "../../../tools/platform/settled-quotes.ts";
import {
  backtestWindow,
  modelVersion,
  runBacktest,
  settledBookings,
  storeBacktest,
} from "../../../app/pricing/backtest.ts";
import { PRICING } from "../../../app/pricing/data.ts";
import { QuoteEngine } from "../../../app/pricing/engine.ts";
import { ENGINE_VERSION, pricingModelObject } from "../../../infra/workloads/pricing-model.ts";
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from "../../api/group.ts";
import type { ModelVersion, PricingModel, PricingModelSpec } from "../../api/pricingmodel.ts";
import { pricingModels } from "../../api/resources.ts";
import { EventRecorder } from "../../runtime/events.ts";
import { builtin, KubeApiError, KubeClient } from "../../runtime/kube.ts";
import { PricingGauges } from "./gauges.ts";
import { PricingReconciler } from "./reconciler.ts";

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, "..", "..", "..");

let platform: OperatorPlatform;
let operator: OperatorProcess;
let serviceAccount: KubeClient;
let saKubeconfig: string;
let db: pg.Pool;
let app: pg.Pool;
let tenantId: string;

const operatorEnv = { PRICING_ANALYSIS_SECONDS: "1" };
// The machine running the tests may be loaded: give a (re)started manager time to answer.
const readyTimeoutMs = 120_000;

beforeAll(async () => {
  platform = await startOperatorPlatform("pricing-controller", { seed: "plans" });
  db = createPool(platform.db.urls.operator, 4);
  app = createPool(platform.db.urls.app, 2);
  tenantId = (await provisionTenant(db, { slug: "pm-shipper", name: "Shipper", planId: "pro" })).tenantId;
  const credentials = await platform.cluster.serviceAccountKubeconfig(OPERATOR_NAMESPACE, OPERATOR_NAME);
  saKubeconfig = credentials.kubeconfigPath;
  serviceAccount = new KubeClient(credentials.kubeConfig);
  operator = await startOperator({
    kubeconfigPath: saKubeconfig,
    databaseUrl: platform.db.urls.operator,
    env: operatorEnv,
    readyTimeoutMs,
  });
}, 1_800_000);

afterAll(async () => {
  await operator?.stop();
  serviceAccount?.close();
  await Promise.all([db?.end(), app?.end()]);
  await platform?.stop();
});

function version(name: string, marginRate = 0.15): ModelVersion {
  return {
    name,
    coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate },
    guardrails: { minMarginPercent: 8, regionalCaps: [{ region: "west_coast", maxCentsPerMile: 900 }] },
  };
}

/** Two versions, an analysis at 10 % after a short hold, then 50 %, then promotion. */
function experiment(
  champion: string,
  challenger: string,
  extra: Partial<PricingModelSpec> = {},
): PricingModelSpec {
  return {
    versions: [version(champion), version(challenger, 0.17)],
    aliases: { champion, challenger },
    steps: [
      { weights: { champion: 90, challenger: 10 }, holdSeconds: 1, analysis: { minSamples: 20 } },
      { weights: { champion: 50, challenger: 50 }, holdSeconds: 2 },
    ],
    ...extra,
  };
}

const apply = (name: string, spec: PricingModelSpec, namespace = OPERATOR_NAMESPACE) =>
  applyAs<PricingModel>(platform.admin, pricingModels, {
    kind: "PricingModel",
    metadata: { name, namespace },
    spec,
  });
const get = (name: string, namespace = OPERATOR_NAMESPACE) =>
  platform.admin.get<PricingModel>(pricingModels, name, namespace);

async function row(model: string) {
  const { rows } = await db.query<{
    champion: { name: string };
    challenger: { name: string; coefficients: { marginRate: number } } | null;
    challenger_weight: string;
    spec_hash: string;
    updated_at: Date;
  }>(
    "SELECT champion, challenger, challenger_weight, spec_hash, updated_at FROM pricing_model_splits WHERE model = $1",
    [model],
  );
  return rows[0];
}
const weightOf = async (model: string) => {
  const r = await row(model);
  return r ? Number(r.challenger_weight) : undefined;
};

const recorders = new Set<NodeJS.Timeout>();
afterEach(() => {
  for (const timer of recorders) clearInterval(timer);
  recorders.clear();
});

/** Polls the row and records each distinct challenger weight the quote path could have read. */
function recordWeights(model: string): { weights: number[]; until(weight: number): Promise<number[]> } {
  const weights: number[] = [];
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    void weightOf(model)
      .then((w) => {
        if (w !== undefined && weights.at(-1) !== w) weights.push(w);
      })
      .catch(() => undefined)
      .finally(() => (polling = false));
  }, 25);
  recorders.add(timer);
  return {
    weights,
    /** Waits until the recorder itself has seen `weight`, then stops it. */
    async until(weight) {
      await waitFor(`${model} recorded at ${weight} %`, () => weights.at(-1) === weight, {
        timeoutMs: 60_000,
      });
      clearInterval(timer);
      recorders.delete(timer);
      return weights;
    },
  };
}

const phaseIs = (name: string, phase: string, timeoutMs = 30_000) =>
  waitFor(
    `${name} phase ${phase}`,
    async () => {
      const pm = await get(name);
      return pm.status?.phase === phase ? pm : undefined;
    },
    { timeoutMs },
  );

async function eventsOf(name: string): Promise<{ reason: string; note: string; type: string }[]> {
  const { items } = await platform.admin.list<{
    reason: string;
    note: string;
    type: string;
    regarding: { name: string };
    metadata: { name: string };
  }>(builtin.events, { namespace: OPERATOR_NAMESPACE });
  return items.filter((e) => e.regarding.name === name);
}

const condition = (pm: PricingModel, type: string) => pm.status?.conditions?.find((c) => c.type === type);

describe("pricing controller (as the operators' ServiceAccount)", () => {
  it("rolls a drifting challenger back: variance over 10 % in settled invoices sets its weight to 0 and says why", async () => {
    await seedSettledQuotes(app, tenantId, "drift-1", { count: 270, settled: 40, drift: 0.03 });
    await seedSettledQuotes(app, tenantId, "drift-2", { count: 30, settled: 25, drift: 0.15 });
    const recorder = recordWeights("spot-drift");
    await apply("spot-drift", experiment("drift-1", "drift-2"));
    const pm = await phaseIs("spot-drift", "RolledBack");
    // Status is written first, then the row it implies.
    expect(await recorder.until(0)).toEqual([10, 0]);
    const split = await row("spot-drift");
    expect(split?.champion.name).toBe("drift-1");
    expect(split?.challenger).toBeNull();
    expect(pm.status).toMatchObject({ weights: { champion: 100, challenger: 0 }, challenger: "drift-2" });
    expect(pm.status?.rollback?.reason).toMatch(/drift-2: absolute variance vs actuals 15\.00 % > 10 %/);
    expect(pm.status?.metrics?.challenger).toMatchObject({ samples: 25, capBreaches: 0 });
    expect(condition(pm, "Analysis")).toMatchObject({ status: "False", reason: "VarianceExceeded" });
    expect(condition(pm, "Analysis")?.message).toMatch(/15\.00 %/);
    expect(condition(pm, "Ready")).toMatchObject({ status: "False", reason: "VarianceExceeded" });
    expect(pm.status?.lastAppliedHash).toBe(split?.spec_hash);

    const events = await eventsOf("spot-drift");
    expect(events.filter((e) => e.reason === "RolledBack")).toHaveLength(1);
    expect(events.find((e) => e.reason === "RolledBack")).toMatchObject({ type: "Warning" });

    // kubectl get pricingmodels shows it at a glance.
    const table = await serverTable(
      platform.cluster,
      `/apis/platform.freight.dev/v1alpha1/namespaces/${OPERATOR_NAMESPACE}/pricingmodels`,
    );
    const columns = table.columnDefinitions.map((c) => c.name);
    const cells = table.rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r.cells[i]])));
    expect(cells.find((c) => c["Name"] === "spot-drift")).toMatchObject({
      Champion: "drift-1",
      Challenger: "drift-2",
      Phase: "RolledBack",
      "Challenger%": 0,
    });

    // Per-version gauges on the manager's /metrics, for the variance alert and the dashboard: the
    // champion still prices; the rolled-back challenger prices nobody, so its series are gone.
    const scrape = async () => (await fetch(`${operator.probeUrl}/metrics`)).text();
    const champion = { model: "spot-drift", version: "drift-1", alias: "champion" };
    await waitFor(
      "champion gauges",
      async () => (await metricValue(operator.probeUrl, "pricing_version_settled_samples", champion)) === 40,
    );
    expect(
      await metricValue(operator.probeUrl, "pricing_version_abs_variance_percent", champion),
    ).toBeCloseTo(3, 1);
    await waitFor(
      "rolled-back challenger's series removed",
      async () => !(await scrape()).includes('version="drift-2"'),
    );
    expect(
      await metricValue(operator.probeUrl, "pricing_model_phase", {
        model: "spot-drift",
        phase: "RolledBack",
      }),
    ).toBe(1);
    expect(
      await metricValue(operator.probeUrl, "pricing_model_challenger_weight_percent", {
        model: "spot-drift",
      }),
    ).toBe(0);
  }, 180_000);

  it("pauses on too few samples, then steps a good challenger 10 → 50 → 100 and promotes it, across a SIGKILL", async () => {
    await seedSettledQuotes(app, tenantId, "good-1", { count: 270, settled: 40, drift: 0.03 });
    await seedSettledQuotes(app, tenantId, "good-2", { count: 30, settled: 5, drift: 0.04 });
    const recorder = recordWeights("spot-good");
    await apply("spot-good", experiment("good-1", "good-2"));

    // 5 settled bookings of 20 needed: inconclusive, so it holds at 10 % and neither promotes nor rolls back.
    const paused = await phaseIs("spot-good", "Paused");
    expect(paused.status?.pauseReason).toMatch(
      /inconclusive: 5 \(challenger\) and 40 \(champion\) settled bookings of 20 needed/,
    );
    expect(condition(paused, "Analysis")).toMatchObject({ status: "Unknown", reason: "Inconclusive" });
    expect(condition(paused, "Ready")).toMatchObject({ status: "False", reason: "Inconclusive" });
    expect(await weightOf("spot-good")).toBe(10);

    // More settled bookings arrive, in the 90:10 ratio the assignment gives.
    await seedSettledQuotes(app, tenantId, "good-1", { count: 180, settled: 0, drift: 0 });
    await seedSettledQuotes(app, tenantId, "good-2", { count: 20, settled: 20, drift: 0.04 });
    await waitFor("step 1 at 50 %", async () => (await weightOf("spot-good")) === 50, { timeoutMs: 60_000 });
    // Killed mid-rollout, with no chance to clean up; the next manager picks up where status says.
    await operator.kill();
    operator = await startOperator({
      kubeconfigPath: saKubeconfig,
      databaseUrl: platform.db.urls.operator,
      env: operatorEnv,
      readyTimeoutMs,
    });
    const promoted = await phaseIs("spot-good", "Promoted", 60_000);
    expect(await recorder.until(100)).toEqual([10, 50, 100]);
    expect(promoted.status).toMatchObject({ weights: { champion: 0, challenger: 100 }, step: 1 });
    expect(promoted.status?.lastPromotedHash).toBe(promoted.status?.lastAppliedHash);
    expect(condition(promoted, "Analysis")).toMatchObject({ status: "True", reason: "Passed" });
    expect(condition(promoted, "Ready")).toMatchObject({ status: "True", reason: "Promoted" });
    expect((await row("spot-good"))?.challenger?.coefficients.marginRate).toBe(0.17);
    // Both versions side by side on the gauges the dashboard reads.
    const challenger = { model: "spot-good", version: "good-2", alias: "challenger" };
    await waitFor(
      "challenger gauges",
      async () =>
        (await metricValue(operator.probeUrl, "pricing_version_settled_samples", challenger)) === 25,
    );
    expect(
      await metricValue(operator.probeUrl, "pricing_version_abs_variance_percent", challenger),
    ).toBeCloseTo(4, 1);
    expect(
      await metricValue(operator.probeUrl, "pricing_version_margin_percent", {
        model: "spot-good",
        version: "good-1",
        alias: "champion",
      }),
    ).toBeCloseTo(100 / 0.87 - 100, 0);
    const reasons = (await eventsOf("spot-good")).map((e) => e.reason).sort();
    expect(reasons).toEqual(["ExperimentStarted", "Paused", "Promoted", "StepAdvanced"]);

    // Steady state: reconciles keep coming (the analysis interval) and write nothing.
    const before = {
      rv: promoted.metadata.resourceVersion,
      updated: (await row("spot-good"))?.updated_at.getTime(),
    };
    const reconciles = await metricValue(operator.probeUrl, "controller_runtime_reconcile_total", {
      controller: "pricing",
    });
    await waitFor(
      "three more pricing reconciles",
      async () =>
        (await metricValue(operator.probeUrl, "controller_runtime_reconcile_total", {
          controller: "pricing",
        })) >=
        reconciles + 3,
      { timeoutMs: 30_000 },
    );
    expect((await get("spot-good")).metadata.resourceVersion).toBe(before.rv);
    expect((await row("spot-good"))?.updated_at.getTime()).toBe(before.updated);
  }, 180_000);

  it("the runbook as on-call runs it: an experiment on the stacks' model, the rollback button, the next experiment", async () => {
    // The sh blocks of docs/runbooks/pricing-experiments.md, run as written with the admin's kubeconfig.
    const runbook = readFileSync(join(repoRoot, "docs", "runbooks", "pricing-experiments.md"), "utf8");
    const blocks = [...runbook.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const block = (marker: string) => {
      const found = blocks.find((b) => b.includes(marker));
      if (!found) throw new Error(`the runbook has no sh block with ${marker}`);
      return found;
    };
    const sh = (script: string) =>
      run("sh", ["-c", script], { env: { ...process.env, KUBECONFIG: platform.cluster.kubeconfigPath } });

    // The model as the stacks create it: the engine's version prices everyone.
    await platform.admin.apply(pricingModels, pricingModelObject(OPERATOR_NAMESPACE), {
      fieldManager: "pulumi-kubernetes",
    });
    await waitFor("the engine's version in the split", async () => {
      const split = await row("spot");
      return split?.champion.name === ENGINE_VERSION.name && Number(split.challenger_weight) === 0;
    });

    await sh(block('"path":"/spec/versions/-"'));
    await waitFor("challenger at 10 %", async () => (await weightOf("spot")) === 10);
    expect((await row("spot"))?.challenger?.name).toBe("2026-12.1");

    const rollback = block('{"spec":{"abort":true}}');
    expect(rollback.trim()).toBe(
      `kubectl -n freight-system patch pricingmodel spot --type merge -p '{"spec":{"abort":true}}'`,
    );
    const started = Date.now();
    await sh(rollback);
    await waitFor("challenger at 0 %", async () => (await weightOf("spot")) === 0, { timeoutMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(5_000);
    const pm = await phaseIs("spot", "RolledBack");
    expect(pm.status?.rollback).toMatchObject({
      challenger: "2026-12.1",
      reason: "spec.abort (the rollback button)",
    });
    expect(condition(pm, "Ready")).toMatchObject({ status: "False", reason: "Aborted" });
    const { stdout } = await sh("kubectl -n freight-system get pricingmodels");
    expect(stdout).toMatch(/\nspot\s+2026-11\.1\s+2026-12\.1\s+RolledBack\s+0\s+100\s+0/);

    // A leftover abort never rolls back the next experiment the moment it starts: it is refused, with the fix.
    const next = (extra: object[]) =>
      sh(
        `kubectl -n freight-system patch pm spot --type json -p '${JSON.stringify([
          { op: "add", path: "/spec/versions/-", value: version("2026-12.2", 0.13) },
          { op: "replace", path: "/spec/aliases/challenger", value: "2026-12.2" },
          ...extra,
        ])}'`,
      );
    await next([]);
    const refused = await waitFor("abort refused", async () => {
      const p = await get("spot");
      return condition(p, "SpecValid")?.reason === "AbortStillSet" ? p : undefined;
    });
    expect(condition(refused, "SpecValid")?.message).toMatch(/set spec.abort to false/);
    expect(refused.status).toMatchObject({ phase: "RolledBack", challenger: "2026-12.1" });
    expect(await weightOf("spot")).toBe(0);
    await sh(`kubectl -n freight-system patch pm spot --type merge -p '{"spec":{"abort":false}}'`);
    await waitFor("2026-12.2 at 10 %", async () => (await row("spot"))?.challenger?.name === "2026-12.2");
    expect(await weightOf("spot")).toBe(10);
  }, 180_000);

  it("refuses bad input on the API server or on status with a reason, and applies none of it", async () => {
    await apply("spot-bad", {
      versions: [version("bad-1"), version("bad-2")],
      aliases: { champion: "bad-1" },
    });
    const stable = await phaseIs("spot-bad", "Stable");
    await waitFor("row for spot-bad", () => row("spot-bad"));
    const before = await row("spot-bad");

    // A version edited after it is listed, an alias to nothing, weights not adding up: CEL says no.
    const refusedByServer = async (spec: PricingModelSpec) => {
      try {
        await apply("spot-bad", spec);
      } catch (error) {
        expect(error).toBeInstanceOf(KubeApiError);
        return (error as Error).message;
      }
      throw new Error("the API server accepted it");
    };
    expect(
      await refusedByServer({
        versions: [version("bad-1", 0.3), version("bad-2")],
        aliases: { champion: "bad-1" },
      }),
    ).toMatch(/version bad-1 is immutable once listed/);
    expect(
      await refusedByServer({
        versions: [version("bad-1"), version("bad-2")],
        aliases: { champion: "bad-1", challenger: "bad-9" },
      }),
    ).toMatch(/alias challenger points at bad-9, which is not in versions/);
    expect(
      await refusedByServer({
        versions: [version("bad-1"), version("bad-2")],
        aliases: { champion: "bad-1", challenger: "bad-2" },
        steps: [{ weights: { champion: 90, challenger: 20 } }],
      }),
    ).toMatch(/weights must sum to 100/);

    // What CEL cannot see: bad-2 removed, then listed again with other content and made challenger.
    await apply("spot-bad", { versions: [version("bad-1")], aliases: { champion: "bad-1" } });
    await waitFor(
      "bad-2 dropped from spec",
      async () =>
        (await get("spot-bad")).status?.observedGeneration === (await get("spot-bad")).metadata.generation,
    );
    await apply("spot-bad", {
      versions: [version("bad-1"), version("bad-2", 0.45)],
      aliases: { champion: "bad-1", challenger: "bad-2" },
    });
    const refused = await waitFor("VersionChanged on status", async () => {
      const p = await get("spot-bad");
      return condition(p, "SpecValid")?.reason === "VersionChanged" ? p : undefined;
    });
    expect(condition(refused, "SpecValid")?.message).toMatch(
      /version bad-2 was listed before with other content.*list the new content under a new name \(e.g. bad-2-2\)/,
    );
    expect(condition(refused, "Ready")).toMatchObject({ status: "False", reason: "SpecRefused" });
    // Nothing half-applied: the phase, the weights and the row are what they were.
    expect(refused.status).toMatchObject({ phase: "Stable", weights: stable.status?.weights });
    expect(refused.status?.challenger).toBeUndefined();
    expect(await row("spot-bad")).toEqual(before);
    expect((await eventsOf("spot-bad")).some((e) => e.reason === "SpecRefused" && e.type === "Warning")).toBe(
      true,
    );

    // The fix the message names: the new content under a new name, and the alias pointed at it.
    await apply("spot-bad", {
      ...experiment("bad-1", "bad-2-2"),
      versions: [version("bad-1"), { ...version("bad-2", 0.45), name: "bad-2-2" }],
    });
    await waitFor("experiment started", async () => (await weightOf("spot-bad")) === 10);
    expect(condition(await get("spot-bad"), "SpecValid")).toMatchObject({ status: "True", reason: "Valid" });
    expect((await row("spot-bad"))?.challenger?.coefficients.marginRate).toBe(0.45);

    // A model outside the served namespace is told where models live, not half-served.
    await platform.admin.apply(
      builtin.namespaces,
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "elsewhere" } },
      { fieldManager: "platform-tests" },
    );
    await apply(
      "spot-elsewhere",
      { versions: [version("bad-1")], aliases: { champion: "bad-1" } },
      "elsewhere",
    );
    const elsewhere = await waitFor("WrongNamespace", async () => {
      const p = await get("spot-elsewhere", "elsewhere");
      return condition(p, "SpecValid")?.reason === "WrongNamespace" ? p : undefined;
    });
    expect(condition(elsewhere, "SpecValid")?.message).toMatch(/served from namespace freight-system only/);
    expect(await row("spot-elsewhere")).toBeUndefined();
  }, 180_000);
});

describe("pricing reconciler killed between its writes (in process, same API server and database)", () => {
  const silent = pino({ level: "silent" });
  const reconciler = (client: KubeClient, pool: pg.Pool, now?: () => Date) =>
    new PricingReconciler({
      client,
      pool,
      events: new EventRecorder(client, "platform.freight.dev/pricing-controller", "test", silent),
      gauges: new PricingGauges(new Registry()),
      log: silent,
      namespace: OPERATOR_NAMESPACE,
      analysisIntervalMs: 60_000,
      now,
    });
  const key = (name: string) => ({ name, namespace: OPERATOR_NAMESPACE });

  beforeAll(async () => {
    // The manager must not reconcile these models behind the test's back.
    await operator.stop();
  });

  it("a controller dying after the status write and before the row write repeats no transition on restart", async () => {
    await seedSettledQuotes(app, tenantId, "crash-1", { count: 270, settled: 40, drift: 0.03 });
    await seedSettledQuotes(app, tenantId, "crash-2", { count: 30, settled: 25, drift: 0.2 });
    await apply(
      "spot-crash",
      experiment("crash-1", "crash-2", {
        steps: [{ weights: { champion: 90, challenger: 10 }, analysis: { minSamples: 20 } }],
      }),
    );
    await reconciler(serviceAccount, db).reconcile(key("spot-crash"));
    expect(await weightOf("spot-crash")).toBe(10);

    // The process dies the moment the status write returns.
    const dying = new Proxy(serviceAccount, {
      get(target, property) {
        if (property === "apply")
          return async (...args: Parameters<KubeClient["apply"]>) => {
            const written = await target.apply(...args);
            if (args[2].subresource === "status") throw new Error("SIGKILL after the status write");
            return written;
          };
        const value = Reflect.get(target, property) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    await expect(reconciler(dying, db).reconcile(key("spot-crash"))).rejects.toThrow(/SIGKILL/);
    const decided = await get("spot-crash");
    expect(decided.status?.phase).toBe("RolledBack");
    expect(await weightOf("spot-crash")).toBe(10);

    // Restarted: it finds its decision in status, decides nothing new, and writes the row it owed.
    await reconciler(serviceAccount, db).reconcile(key("spot-crash"));
    const after = await get("spot-crash");
    expect(await weightOf("spot-crash")).toBe(0);
    expect(after.metadata.resourceVersion).toBe(decided.metadata.resourceVersion);
    expect(after.status?.rollback).toEqual(decided.status?.rollback);
    expect((await eventsOf("spot-crash")).filter((e) => e.reason === "RolledBack")).toHaveLength(1);
    await reconciler(serviceAccount, db).reconcile(key("spot-crash"));
    expect((await get("spot-crash")).metadata.resourceVersion).toBe(decided.metadata.resourceVersion);
  }, 180_000);

  it("promotion waits for a passing backtest of the challenger as listed; a failed one rolls it back", async () => {
    const gated = (champion: string, challenger: string) =>
      experiment(champion, challenger, {
        steps: [{ weights: { champion: 90, challenger: 10 }, analysis: { minSamples: 20 } }],
        analysis: { requirePassingBacktest: true },
      });
    // The backtest as the weekly CronJob runs it (app/ops/pricing-backtest.ts), on every settled booking.
    const backtest = async (model: string, version: string) => {
      const window = { weeks: 4, ...backtestWindow(4, new Date()) };
      const result = runBacktest(
        new QuoteEngine(PRICING),
        { model, version: modelVersion(await get(model), version), maxAbsVariancePercent: 10 },
        await settledBookings(db, window),
        window,
      );
      await storeBacktest(db, result);
      return result;
    };
    for (const [model, champion, challenger] of [
      ["spot-gate", "gate-1", "gate-2"],
      ["spot-gate-fail", "gate-3", "gate-4"],
    ] as const) {
      await seedSettledQuotes(app, tenantId, champion, { count: 270, settled: 40, drift: 0.03 });
      await seedSettledQuotes(app, tenantId, challenger, { count: 30, settled: 25, drift: 0.03 });
      await apply(model, gated(champion, challenger));
      await reconciler(serviceAccount, db).reconcile(key(model));
      await reconciler(serviceAccount, db).reconcile(key(model));
      const waiting = await get(model);
      expect(waiting.status).toMatchObject({ phase: "Paused", weights: { challenger: 10 } });
      expect(waiting.status?.pauseReason).toMatch(
        new RegExp(`^waits for a passing backtest of ${challenger}`),
      );
      expect(await weightOf(model)).toBe(10);
    }

    // The seeded invoices are nowhere near what the engine prices those lanes at: a real run fails.
    const failing = await backtest("spot-gate-fail", "gate-4");
    expect(failing.passed).toBe(false);
    await reconciler(serviceAccount, db).reconcile(key("spot-gate-fail"));
    const rolledBack = await get("spot-gate-fail");
    expect(rolledBack.status?.phase).toBe("RolledBack");
    expect(rolledBack.status?.rollback?.reason).toBe(
      `backtest of gate-4 failed: ${failing.failures.join("; ")}`,
    );
    expect(await weightOf("spot-gate-fail")).toBe(0);

    // A passing result stored for an earlier spec of gate-2 does not count; one of gate-2 as listed does.
    const run = await backtest("spot-gate", "gate-2");
    await storeBacktest(db, { ...run, passed: true, failures: [], versionChecksum: "0".repeat(64) });
    await reconciler(serviceAccount, db).reconcile(key("spot-gate"));
    expect((await get("spot-gate")).status?.pauseReason).toMatch(/replayed an earlier spec of it/);
    await storeBacktest(db, { ...run, passed: true, failures: [] });
    await reconciler(serviceAccount, db).reconcile(key("spot-gate"));
    expect((await get("spot-gate")).status?.phase).toBe("Promoted");
    expect(await weightOf("spot-gate")).toBe(100);
  }, 180_000);

  it("an analysis that cannot read its metrics pauses (never rolls back); a step past its deadline fails", async () => {
    await seedSettledQuotes(app, tenantId, "err-1", { count: 270, settled: 40, drift: 0.03 });
    await seedSettledQuotes(app, tenantId, "err-2", { count: 30, settled: 25, drift: 0.03 });
    await apply(
      "spot-err",
      experiment("err-1", "err-2", {
        steps: [
          { weights: { champion: 90, challenger: 10 }, analysis: { minSamples: 20 } },
          { weights: { champion: 50, challenger: 50 } },
        ],
        stepDeadlineSeconds: 600,
      }),
    );
    await reconciler(serviceAccount, db).reconcile(key("spot-err"));
    expect(await weightOf("spot-err")).toBe(10);

    // The settled-actuals query fails (the split row itself still reads and writes).
    const broken = new Proxy(db, {
      get(target, property) {
        if (property === "query")
          return (text: string, ...rest: unknown[]) =>
            /FROM quotes q/.test(text)
              ? Promise.reject(new Error("canceling statement due to statement timeout"))
              : (target.query as (...a: unknown[]) => unknown)(text, ...rest);
        const value = Reflect.get(target, property) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    await reconciler(serviceAccount, broken).reconcile(key("spot-err"));
    const paused = await get("spot-err");
    expect(paused.status).toMatchObject({ phase: "Paused", weights: { challenger: 10 } });
    expect(condition(paused, "Analysis")).toMatchObject({ status: "Unknown", reason: "AnalysisError" });
    expect(condition(paused, "Analysis")?.message).toMatch(/statement timeout/);
    expect(await weightOf("spot-err")).toBe(10);

    // Still failing ten minutes later: the step's deadline, not the missing data, fails the rollout.
    const later = () => new Date(Date.now() + 11 * 60_000);
    await reconciler(serviceAccount, broken, later).reconcile(key("spot-err"));
    const failed = await get("spot-err");
    expect(failed.status?.phase).toBe("RolledBack");
    expect(failed.status?.rollback?.reason).toMatch(/step 0 ran \d+ s, past its 600 s deadline/);
    expect(condition(failed, "Ready")).toMatchObject({ status: "False", reason: "DeadlineExceeded" });
    expect(await weightOf("spot-err")).toBe(0);
  }, 180_000);
});
