// The split every API replica and runner prices with: the pricing_model_splits row of its model
// (migration 0025, written by the PricingModel controller), held in memory so the quote path reads it
// without a round trip. Loaded at start and re-read on each 'pricing_split_changed' notification, and
// again after every reconnect of the LISTEN connection (a rollback sent while the replica was deaf is
// read as soon as it listens again). With no row, the engine's own version is the champion: quotes are
// priced exactly as before any model existed. A row the app cannot read keeps the last good split.
import type pg from "pg";
import { z } from "zod";
import { listenOn, type ChannelListener } from "../db/notifications.ts";
import type { PricingData } from "./data.ts";
import { RATE_REGIONS } from "./markets.ts";
import type { ActiveSplit, PricingVersion } from "./model-version.ts";

export const PRICING_SPLIT_CHANNEL = "pricing_split_changed";

/** The model the platform prices quotes with unless PRICING_MODEL names another. */
export const DEFAULT_PRICING_MODEL = "spot";

/**
 * PRICING_MODEL, for the quote API and the runners: the PricingModel (and pricing_model_splits row)
 * they price with. The stacks set it; a bare process (tests, `npm start`) uses the platform's model.
 */
export const pricingModelSetting = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    "must be a PricingModel name: lowercase letters, digits and '-', e.g. spot",
  )
  .max(63, "must be at most 63 characters (a Kubernetes object name)")
  .default(DEFAULT_PRICING_MODEL);

const pricingVersion = z.object({
  name: z.string().min(1),
  coefficients: z.object({
    linehaulMultiplier: z.number().positive(),
    fuelSurchargeMultiplier: z.number().positive(),
    marginRate: z.number().min(0),
  }),
  guardrails: z.object({
    minMarginPercent: z.number().min(0),
    regionalCaps: z
      .array(z.object({ region: z.enum(RATE_REGIONS), maxCentsPerMile: z.number().positive() }))
      .optional(),
  }),
});

/** A pricing_model_splits row as node-postgres returns it. */
export interface SplitRow {
  model: string;
  bucket_version: number;
  champion: unknown;
  challenger: unknown;
  /** numeric(5,2): a string from node-postgres. */
  challenger_weight: string | number;
  spec_hash: string;
}

/** The split a row describes, or an error naming the column that is not a PricingVersion. */
export function splitFromRow(row: SplitRow): ActiveSplit {
  const version = (column: "champion" | "challenger", value: unknown): PricingVersion => {
    const parsed = pricingVersion.safeParse(value);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw new Error(
      `pricing_model_splits row '${row.model}': ${column}.${issue?.path.join(".") ?? ""} ${issue?.message ?? "is invalid"}; the controller writes PricingVersion JSON (app/pricing/model-version.ts)`,
    );
  };
  const challenger = row.challenger === null ? undefined : version("challenger", row.challenger);
  return {
    model: row.model,
    bucketVersion: row.bucket_version,
    champion: version("champion", row.champion),
    ...(challenger ? { challenger } : {}),
    challengerWeight: challenger ? Number(row.challenger_weight) : 0,
  };
}

/** The engine's own version as a PricingVersion: priced through it, a quote is what the engine says. */
export function engineVersion(data: PricingData): PricingVersion {
  return {
    name: data.version,
    coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: data.marginRate },
    guardrails: { minMarginPercent: 0 },
  };
}

/** Only the engine's version: the split when the model has no row. */
export function engineSplit(model: string, data: PricingData): ActiveSplit {
  return { model, bucketVersion: 0, champion: engineVersion(data), challengerWeight: 0 };
}

export async function readSplit(pool: pg.Pool, model: string): Promise<ActiveSplit | undefined> {
  const { rows } = await pool.query<SplitRow>(
    `SELECT model, bucket_version, champion, challenger, challenger_weight, spec_hash
       FROM pricing_model_splits WHERE model = $1`,
    [model],
  );
  return rows[0] ? splitFromRow(rows[0]) : undefined;
}

export interface PricingSplitsOptions {
  pool: pg.Pool;
  /** The LISTEN connection's URL (a connection of its own, outside the pool). */
  connectionString: string;
  model: string;
  data: PricingData;
  onError?: (error: Error) => void;
  /** Wait before reconnecting a lost LISTEN connection. */
  retryMs?: number;
}

export class PricingSplits {
  readonly model: string;
  readonly #options: PricingSplitsOptions;
  #split: ActiveSplit;
  #listener: ChannelListener | undefined;
  #loading: Promise<void> | undefined;
  #loadAgain = false;
  #loads = 0;

  constructor(options: PricingSplitsOptions) {
    this.#options = options;
    this.model = options.model;
    this.#split = engineSplit(options.model, options.data);
  }

  /** The split as last read. */
  current(): ActiveSplit {
    return this.#split;
  }

  /** Reads completed since start (a test waits on it instead of sleeping). */
  get loads(): number {
    return this.#loads;
  }

  /** Reads the row once, then listens; a failed first read is reported and retried on (re)connect. */
  async start(): Promise<void> {
    await this.reload();
    this.#listener = listenOn({
      connectionString: this.#options.connectionString,
      channel: PRICING_SPLIT_CHANNEL,
      retryMs: this.#options.retryMs,
      onNotification: (model) => {
        if (model === this.model) void this.reload();
      },
      // Changes made while the connection was down were never notified: read the row again.
      onListening: () => void this.reload(),
      onLost: (error) => this.#options.onError?.(error),
    });
  }

  async stop(): Promise<void> {
    await this.#listener?.stop();
    await this.#loading;
  }

  /** Re-reads the row; a change notified during a read is read again after it, never lost. */
  reload(): Promise<void> {
    if (this.#loading) {
      this.#loadAgain = true;
      return this.#loading;
    }
    this.#loading = (async () => {
      do {
        this.#loadAgain = false;
        try {
          const split = await readSplit(this.#options.pool, this.model);
          this.#split = split ?? engineSplit(this.model, this.#options.data);
          this.#loads++;
        } catch (error) {
          this.#options.onError?.(error as Error);
        }
      } while (this.#loadAgain);
    })().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }
}
