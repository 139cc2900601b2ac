// The PricingModel controller's side of a rollout, for tests and benchmarks that exercise the app:
// writing the pricing_model_splits row as the controller does (freight_operator, one statement), and
// timing how long a change takes to reach each API replica's quotes. Shared by the split tests and
// `bench:pricing-rollback`.
import type pg from "pg";
import type { ActiveSplit } from "../../app/pricing/model-version.ts";
import { apiClient, quoteBody } from "./api-client.ts";

/** Upserts the model's split row (what the controller publishes), as the operators' role. */
export async function publishSplit(
  operator: pg.Pool | pg.Client,
  split: ActiveSplit,
  specHash = `test-${Date.now()}`,
): Promise<void> {
  await operator.query(
    `INSERT INTO pricing_model_splits (model, bucket_version, champion, challenger, challenger_weight, spec_hash, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, now())
     ON CONFLICT (model) DO UPDATE SET bucket_version = EXCLUDED.bucket_version, champion = EXCLUDED.champion,
       challenger = EXCLUDED.challenger, challenger_weight = EXCLUDED.challenger_weight,
       spec_hash = EXCLUDED.spec_hash, updated_at = now()`,
    [
      split.model,
      split.bucketVersion,
      JSON.stringify(split.champion),
      split.challenger ? JSON.stringify(split.challenger) : null,
      split.challenger ? split.challengerWeight : 0,
      specHash,
    ],
  );
}

/** The rollback button's effect on the row: the challenger's weight goes to 0 at once. */
export async function rollBackSplit(operator: pg.Pool | pg.Client, model: string): Promise<void> {
  await operator.query(
    "UPDATE pricing_model_splits SET challenger_weight = 0, updated_at = now() WHERE model = $1",
    [model],
  );
}

export interface SplitReach {
  /** Per replica: ms from the change to the first quote priced with `version` there. */
  effectiveMs: number[];
}

/**
 * Runs `change` and quotes on every replica (as the tenant of `apiKey`) until each prices with
 * `version`; a replica that never does within `timeoutMs` reports Infinity.
 */
export async function measureSplitReach(
  urls: string[],
  apiKey: string,
  version: string,
  change: () => Promise<void>,
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<SplitReach> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pollMs = options.pollMs ?? 20;
  const started = performance.now();
  const changed = change();
  const effectiveMs = await Promise.all(
    urls.map(async (url) => {
      const client = apiClient(url, apiKey);
      for (;;) {
        const res = await client.post<{ pricingVersion?: string }>("/v1/quotes", quoteBody());
        const at = performance.now() - started;
        if (res.status !== 201)
          throw new Error(`POST /v1/quotes on ${url} answered ${res.status}: ${JSON.stringify(res.body)}`);
        if (res.body.pricingVersion === version) return at;
        if (at > timeoutMs) return Number.POSITIVE_INFINITY;
        await new Promise((r) => setTimeout(r, pollMs));
      }
    }),
  );
  await changed;
  return { effectiveMs };
}
