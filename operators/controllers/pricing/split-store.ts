// The pricing controller's side of pricing_model_splits (migration 0025): the split every API replica
// prices with, one row per model. The row is compared before it is written, so a steady state writes
// nothing and wakes no replica (the table's trigger NOTIFYs on every write).
import type pg from "pg";
import type { PricingVersion } from "../../../app/pricing/model-version.ts";
import { canonical } from "../../runtime/status.ts";

export interface PublishedSplit {
  model: string;
  bucketVersion: number;
  champion: PricingVersion;
  challenger?: PricingVersion;
  /** Percent of tenants' buckets on the challenger; 0 whenever there is no challenger. */
  challengerWeight: number;
  /** The PricingModel spec hash the split was decided from (status.lastAppliedHash). */
  specHash: string;
}

interface Row {
  bucket_version: number;
  champion: PricingVersion;
  challenger: PricingVersion | null;
  challenger_weight: string;
  spec_hash: string;
}

export async function readSplit(pool: pg.Pool, model: string): Promise<PublishedSplit | undefined> {
  const { rows } = await pool.query<Row>(
    "SELECT bucket_version, champion, challenger, challenger_weight, spec_hash FROM pricing_model_splits WHERE model = $1",
    [model],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    model,
    bucketVersion: row.bucket_version,
    champion: row.champion,
    ...(row.challenger ? { challenger: row.challenger } : {}),
    challengerWeight: Number(row.challenger_weight),
    specHash: row.spec_hash,
  };
}

/** What the app prices with, without the bookkeeping: two splits with the same content price alike. */
export function sameSplit(a: PublishedSplit | undefined, b: PublishedSplit): boolean {
  if (!a) return false;
  const content = (s: PublishedSplit) =>
    canonical([s.bucketVersion, s.champion, s.challenger ?? null, s.challengerWeight]);
  return content(a) === content(b);
}

/** Writes the split when its content differs from the stored row. Returns whether it wrote. */
export async function publishSplit(pool: pg.Pool, split: PublishedSplit): Promise<boolean> {
  if (sameSplit(await readSplit(pool, split.model), split)) return false;
  // The WHERE makes a concurrent identical write (a second leader for a moment) a no-op.
  await pool.query(
    `INSERT INTO pricing_model_splits AS s (model, bucket_version, champion, challenger, challenger_weight, spec_hash, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, now())
     ON CONFLICT (model) DO UPDATE SET bucket_version = excluded.bucket_version, champion = excluded.champion,
       challenger = excluded.challenger, challenger_weight = excluded.challenger_weight,
       spec_hash = excluded.spec_hash, updated_at = now()
     WHERE (s.bucket_version, s.champion, s.challenger, s.challenger_weight)
       IS DISTINCT FROM (excluded.bucket_version, excluded.champion, excluded.challenger, excluded.challenger_weight)`,
    [
      split.model,
      split.bucketVersion,
      JSON.stringify(split.champion),
      split.challenger ? JSON.stringify(split.challenger) : null,
      split.challengerWeight,
      split.specHash,
    ],
  );
  return true;
}
