// Storing and metering quotes. One quote is one create_quote statement; under load, the QuoteWriter
// groups the quotes waiting for a connection into one create_quotes statement and one commit, so the
// database pays its per-statement and per-commit cost once per batch instead of once per quote.
import pg from "pg";
import type { ConsumeRow } from "../metering/meter.ts";
import type { PricedQuoteFields } from "../pricing/quote-request.ts";
import type { Db } from "./pool.ts";

/** What create_quote stores for one priced quote (prices are computed by the app). */
export interface QuoteWrite extends PricedQuoteFields {
  tenantId: string;
  /** The breakdown as JSON text, serialised once by the caller. */
  breakdown: string;
}

/** create_quote's answer: the meter figures and, when stored, the quote's id and times. */
export interface CreatedQuoteRow extends Partial<ConsumeRow> {
  has_entitlement: boolean;
  quote_id: string | null;
  created_at: Date | null;
  expires_at: Date | null;
}

export interface QuoteWriteOptions {
  /** Count the quotes meter (METERING=on). */
  metered: boolean;
  ttlMinutes: number;
}

/** Stores one quote on `db` (a pool, or a client inside the caller's transaction). */
export async function createQuote(
  db: pg.Pool | Db,
  write: QuoteWrite,
  options: QuoteWriteOptions,
): Promise<CreatedQuoteRow> {
  const { rows } = await db.query<CreatedQuoteRow>({
    name: "create-quote",
    text: "SELECT * FROM create_quote($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    values: [
      write.tenantId,
      options.metered,
      write.origin,
      write.destination,
      write.equipment,
      write.weightLbs,
      write.pickupDate,
      write.distanceMiles,
      write.linehaulCents,
      write.fuelSurchargeCents,
      write.marginCents,
      write.totalCents,
      write.breakdown,
      write.pricingVersion,
      write.pricingModel ?? null,
      write.pricingBucket ?? null,
      options.ttlMinutes,
    ],
  });
  return rows[0] as CreatedQuoteRow;
}

/** Stores several quotes in one statement and one commit; answers in the order of `writes`. */
export async function createQuotes(
  pool: pg.Pool,
  writes: QuoteWrite[],
  options: QuoteWriteOptions,
): Promise<CreatedQuoteRow[]> {
  const column = <K extends keyof QuoteWrite>(key: K) => writes.map((write) => write[key]);
  const { rows } = await pool.query<CreatedQuoteRow & { ord: number }>({
    name: "create-quotes",
    text: "SELECT * FROM create_quotes($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    values: [
      column("tenantId"),
      options.metered,
      column("origin"),
      column("destination"),
      column("equipment"),
      column("weightLbs"),
      column("pickupDate"),
      column("distanceMiles"),
      column("linehaulCents"),
      column("fuelSurchargeCents"),
      column("marginCents"),
      column("totalCents"),
      column("breakdown"),
      column("pricingVersion"),
      writes.map((write) => write.pricingModel ?? null),
      writes.map((write) => write.pricingBucket ?? null),
      options.ttlMinutes,
    ],
  });
  const answers = new Array<CreatedQuoteRow>(writes.length);
  for (const row of rows) answers[row.ord - 1] = row;
  return answers;
}

interface Pending {
  write: QuoteWrite;
  resolve: (row: CreatedQuoteRow) => void;
  reject: (error: unknown) => void;
}

export interface QuoteWriterOptions extends QuoteWriteOptions {
  /** Statements in flight at once; each holds one pooled connection while it runs. */
  lanes: number;
  /** Quotes per statement at most. */
  maxBatch: number;
}

/**
 * Lanes and batch size for a pool of `poolSize` connections: a quarter of the pool (the rest serves
 * reads, bookings and keyed quotes), and batches large enough that a burst drains in a few statements.
 */
export function quoteWriteLanes(poolSize: number): Pick<QuoteWriterOptions, "lanes" | "maxBatch"> {
  return { lanes: Math.max(1, Math.floor(poolSize / 4)), maxBatch: 64 };
}

/**
 * Sends a quote at once when a lane is free (no added latency at low load); while every lane is busy,
 * quotes queue and the next free lane takes up to `maxBatch` of them in one statement. The batch size
 * follows the load by itself: there is no timer and nothing waits for a batch to fill.
 */
export class QuoteWriter {
  readonly #pool: pg.Pool;
  readonly #options: QuoteWriterOptions;
  #queue: Pending[] = [];
  #inFlight = 0;

  constructor(pool: pg.Pool, options: QuoteWriterOptions) {
    this.#pool = pool;
    this.#options = options;
  }

  write(write: QuoteWrite): Promise<CreatedQuoteRow> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ write, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#options.lanes && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.maxBatch);
      this.#inFlight++;
      void this.#send(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #send(batch: Pending[]): Promise<void> {
    if (batch.length === 1) return this.#sendAlone(batch[0] as Pending);
    let rows: CreatedQuoteRow[];
    try {
      rows = await createQuotes(
        this.#pool,
        batch.map((pending) => pending.write),
        this.#options,
      );
    } catch (error) {
      // The server refused the statement, so the whole batch rolled back: nothing of it was stored or
      // counted, and each quote goes again on its own, so one quote's failure answers for that quote
      // only. Any other failure (a connection lost mid-answer) may have committed: never sent twice.
      if (error instanceof pg.DatabaseError) {
        await Promise.all(batch.map((pending) => this.#sendAlone(pending)));
      } else {
        for (const pending of batch) pending.reject(error);
      }
      return;
    }
    batch.forEach((pending, i) => pending.resolve(rows[i] as CreatedQuoteRow));
  }

  async #sendAlone(pending: Pending): Promise<void> {
    try {
      pending.resolve(await createQuote(this.#pool, pending.write, this.#options));
    } catch (error) {
      pending.reject(error);
    }
  }
}
