// `npm run pricing:backtest`: replays the settled bookings of the last weeks through a PricingModel
// version (app/pricing/backtest.ts), prints variance, margin and cap breaches per region and
// equipment, stores the result in pricing_backtests and exits 1 when a guardrail fails.
//   npm run pricing:backtest -- --model spot --version 2026-12.1 --weeks 4
//   npm run pricing:backtest -- --scheduled --weeks 4    # every model's challenger, else its champion
// The version's coefficients and guardrails are read from the PricingModel object through the
// Kubernetes API (KUBECONFIG, or KUBERNETES_API=in-cluster in a pod), the bookings as the operators'
// role. Exit codes: 0 every backtest passed, 1 a guardrail failed, 2 bad flags, 3 nothing could be
// backtested (no such model or version, no settled bookings in the window), 78 bad configuration.
import { parseArgs } from "node:util";
import { z } from "zod";
import { appConfigSchema } from "../config.ts";
import { createPool } from "../db/pool.ts";
import { ConfigError, defineEnv, EX_CONFIG, loadEnv, postgresUrl, secretValue, type Env } from "../env.ts";
import { inClusterClient, kubeconfigClient } from "../billing/tenant-resource.ts";
import { OPERATOR_NAMESPACE } from "../../operators/api/group.ts";
import type { PricingModel } from "../../operators/api/pricingmodel.ts";
import { pricingModels } from "../../operators/api/resources.ts";
import { isNotFound, type KubeClient } from "../../operators/runtime/kube.ts";
import { PRICING } from "../pricing/data.ts";
import { QuoteEngine } from "../pricing/engine.ts";
import {
  BacktestError,
  backtestWindow,
  formatBacktest,
  modelVersion,
  runBacktest,
  scheduledVersion,
  settledBookings,
  storeBacktest,
  varianceLimit,
  type BacktestResult,
} from "../pricing/backtest.ts";

/** Where PricingModels live unless PRICING_MODEL_NAMESPACE says otherwise: beside their controller. */
export const PRICING_MODELS_NAMESPACE = OPERATOR_NAMESPACE;

export const pricingBacktestEnv = defineEnv({
  process: "pricing backtest",
  schema: z.object({
    OPERATOR_DATABASE_URL: postgresUrl(
      "the freight_operator role's connection URL (reads every tenant's settlements, stores the result)",
      "postgres://freight_operator:...@host:5432/freight",
    ),
    PRICING_MODEL_NAMESPACE: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a Kubernetes namespace name")
      .default(PRICING_MODELS_NAMESPACE),
    KUBECONFIG: appConfigSchema.shape.KUBECONFIG,
    KUBERNETES_API: appConfigSchema.shape.KUBERNETES_API,
  }),
  check: (config) => [
    ...(config.KUBERNETES_API && config.KUBECONFIG
      ? [{ variable: "KUBERNETES_API", message: "is in-cluster while KUBECONFIG is set too; unset one" }]
      : []),
    ...(!config.KUBERNETES_API && !config.KUBECONFIG
      ? [
          {
            variable: "KUBERNETES_API",
            message:
              "or KUBECONFIG is required: the versions are read from the PricingModel objects (KUBERNETES_API=in-cluster in a pod)",
          },
        ]
      : []),
  ],
  secrets: ["OPERATOR_DATABASE_URL"],
});
export type PricingBacktestConfig = ReturnType<typeof pricingBacktestEnv.parse>;

export function parsePricingBacktestConfig(env: Env): PricingBacktestConfig {
  return pricingBacktestEnv.parse(env);
}

const USAGE =
  "Usage: npm run pricing:backtest -- --model NAME --version V [--weeks 4] | --scheduled [--weeks 4] [--json]";

export interface BacktestRequest {
  /** One model's version, or (scheduled) every model's challenger, else its champion. */
  targets: { model: string; version?: string } | "scheduled";
  weeks: number;
  json: boolean;
}

/** The flags, or a message naming what is wrong and how to fix it. */
export function parseBacktestFlags(argv: string[]): BacktestRequest | { error: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: "string" },
        version: { type: "string" },
        weeks: { type: "string", default: "4" },
        scheduled: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return { error: `${(error as Error).message}. ${USAGE}` };
  }
  if (!/^\d+$/.test(values.weeks) || Number(values.weeks) < 1 || Number(values.weeks) > 52) {
    return { error: `--weeks must be a whole number of weeks from 1 to 52, not '${values.weeks}'. ${USAGE}` };
  }
  const weeks = Number(values.weeks);
  if (values.scheduled) {
    if (values.model || values.version)
      return {
        error: `--scheduled picks the models and versions itself; drop --model and --version. ${USAGE}`,
      };
    return { targets: "scheduled", weeks, json: values.json };
  }
  if (!values.model) return { error: `--model is required (or --scheduled for every model). ${USAGE}` };
  if (!values.version)
    return { error: `--version is required: which of ${values.model}'s versions to backtest. ${USAGE}` };
  return { targets: { model: values.model, version: values.version }, weeks, json: values.json };
}

async function readModel(kube: KubeClient, namespace: string, name: string): Promise<PricingModel> {
  try {
    return await kube.get<PricingModel>(pricingModels, name, namespace);
  } catch (error) {
    if (isNotFound(error)) {
      throw new BacktestError(
        `PricingModel ${name} not found in namespace ${namespace}; \`kubectl get pricingmodels -n ${namespace}\` lists them`,
      );
    }
    throw error;
  }
}

export interface BacktestRun {
  results: BacktestResult[];
  /** Targets that could not be backtested, each in a sentence. */
  errors: string[];
}

/** Backtests each target and stores every result; a target that cannot run is reported, not thrown. */
export async function backtestTargets(
  deps: { kube: KubeClient; pool: import("pg").Pool; namespace: string; now?: Date },
  request: BacktestRequest,
): Promise<BacktestRun> {
  const engine = new QuoteEngine(PRICING);
  const window = { weeks: request.weeks, ...backtestWindow(request.weeks, deps.now ?? new Date()) };
  const models =
    request.targets === "scheduled"
      ? (await deps.kube.list<PricingModel>(pricingModels, { namespace: deps.namespace })).items.map((m) => ({
          model: m,
          version: scheduledVersion(m),
        }))
      : [
          {
            model: await readModel(deps.kube, deps.namespace, request.targets.model),
            version: request.targets.version as string,
          },
        ];
  if (models.length === 0)
    return { results: [], errors: [`no PricingModel in namespace ${deps.namespace}: nothing to backtest`] };
  const bookings = await settledBookings(deps.pool, window);
  const run: BacktestRun = { results: [], errors: [] };
  for (const { model, version } of models) {
    try {
      const result = runBacktest(
        engine,
        {
          model: model.metadata.name as string,
          version: modelVersion(model, version),
          maxAbsVariancePercent: varianceLimit(model),
        },
        bookings,
        window,
      );
      await storeBacktest(deps.pool, result);
      run.results.push(result);
    } catch (error) {
      if (!(error instanceof BacktestError)) throw error;
      run.errors.push(`${model.metadata.name}: ${error.message}`);
    }
  }
  return run;
}

export async function main(argv: string[], env: Env = process.env): Promise<number> {
  const request = parseBacktestFlags(argv);
  if ("error" in request) {
    console.error(request.error);
    return 2;
  }
  let config: PricingBacktestConfig;
  try {
    config = loadEnv(pricingBacktestEnv, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return EX_CONFIG;
  }
  const kube = config.KUBECONFIG
    ? kubeconfigClient(config.KUBECONFIG, "freight-pricing-backtest")
    : inClusterClient("freight-pricing-backtest");
  const pool = createPool(secretValue(config, "OPERATOR_DATABASE_URL")!, 2);
  try {
    let run: BacktestRun;
    try {
      run = await backtestTargets({ kube, pool, namespace: config.PRICING_MODEL_NAMESPACE }, request);
    } catch (error) {
      if (!(error instanceof BacktestError)) throw error;
      run = { results: [], errors: [error.message] };
    }
    if (request.json) console.log(JSON.stringify(run, null, 2));
    else for (const result of run.results) console.log(formatBacktest(result));
    for (const error of run.errors) console.error(`Cannot backtest ${error}`);
    if (run.errors.length) return 3;
    return run.results.every((r) => r.passed) ? 0 : 1;
  } finally {
    kube.close();
    await pool.end();
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
